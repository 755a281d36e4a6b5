// A Deno ping-pong client in its own process, for bench/tcp_crossprocess.ts:
// connects to 127.0.0.1:PORT, does ROUNDS round trips of SIZE bytes with
// Deno.connect and await, prints one JSON line { roundTripsPerSecond }.
//
//   deno run --allow-net bench/peers/tcp_client_deno.ts PORT ROUNDS SIZE

const [port, rounds, size] = Deno.args.map(Number);
const conn = await Deno.connect({ hostname: "127.0.0.1", port });
conn.setNoDelay(true);
const message = new Uint8Array(size);
const buffer = new Uint8Array(size);
const start = performance.now();
for (let i = 0; i < rounds; i++) {
  await conn.write(message);
  let got = 0;
  while (got < size) {
    const n = await conn.read(buffer.subarray(got));
    if (n === null) throw new Error("the server closed the connection");
    got += n;
  }
}
const elapsedMs = performance.now() - start;
conn.close();
console.log(JSON.stringify({ roundTripsPerSecond: rounds / elapsedMs * 1000 }));
