// Deno's own figure for bench/udp_pummel.ts: the udp_pummel_1v1 shape (one
// sender, one receiver, 64-byte datagrams for a fixed time) with
// Deno.listenDatagram and `await`, in its own process, in Deno's fastest
// shape: `receive(buffer)` into one reused buffer (a bare `receive()`
// allocates 64 KiB per datagram).
//
//   deno run --allow-net --unstable-net bench/peers/udp_pummel_deno.ts SECONDS SIZE
//
// Prints one JSON line: datagrams sent and received, seconds, received/s.

const [secondsText = "2", sizeText = "64"] = Deno.args;
const seconds = Number(secondsText);
const size = Number(sizeText);

const receiver = Deno.listenDatagram({
  hostname: "127.0.0.1",
  port: 0,
  transport: "udp",
});
const sender = Deno.listenDatagram({
  hostname: "127.0.0.1",
  port: 0,
  transport: "udp",
});
const target = receiver.addr as Deno.NetAddr;
const payload = new Uint8Array(size).fill(120);

let received = 0;
const buffer = new Uint8Array(65536);
const receiving = (async () => {
  try {
    for (;;) {
      const [data] = await receiver.receive(buffer);
      if (data.length !== size) throw new Error("unexpected size");
      received++;
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) throw error;
  }
})();

let sent = 0;
const start = performance.now();
const deadline = start + seconds * 1000;
let end = start;
while (end < deadline) {
  for (let i = 0; i < 64; i++) {
    await sender.send(payload, target);
    sent++;
  }
  end = performance.now();
}
const countedReceived = received;
receiver.close();
sender.close();
await receiving;
const elapsed = (end - start) / 1000;
console.log(JSON.stringify({
  sent,
  received: countedReceived,
  seconds: elapsed,
  receivedPerSecond: countedReceived / elapsed,
}));
