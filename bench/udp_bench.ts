// Per-call costs of UDPEndpoint over 127.0.0.1, next to Deno's own:
//
//   deno bench -A --unstable-net bench/udp_bench.ts
//
// Each benchmark moves 64 datagrams of 64 bytes. `send` and `sendMany` go to
// a socket nobody reads (the kernel drops what does not fit, sends still cost
// the full path); `send + receive` and `sendMany + receiveMany` deliver every
// datagram and take it out again. Receives here never block (the datagrams
// are there), so they run from plain code without a task.

import { EventLoop } from "../src/loop.ts";
import { UDPEndpoint } from "../src/io/udp.ts";

const loop = new EventLoop();
const sink = new UDPEndpoint({ receiveSize: 2048 });
sink.bind({ hostname: "127.0.0.1", port: 0 });
const receiver = new UDPEndpoint({ receiveSize: 2048, receiveBatch: 64 });
receiver.bind({ hostname: "127.0.0.1", port: 0 });
const sender = new UDPEndpoint();
sender.bind({ hostname: "127.0.0.1", port: 0 });
const payload = new Uint8Array(64).fill(1);
const burst = Array.from({ length: 64 }, () => payload);
const sinkAddress = sink.sockname;
const target = receiver.sockname;

/** Drives a generator that must not block (data is buffered). */
function now<T>(operation: Generator<unknown, T, unknown>): T {
  const step = operation.next();
  if (!step.done) throw new Error("the operation would block");
  return step.value;
}

Deno.bench("UDPEndpoint.send ×64", { group: "send" }, () => {
  for (let i = 0; i < 64; i++) sender.send(payload, sinkAddress);
});

Deno.bench("UDPEndpoint.sendMany (64 datagrams)", { group: "send" }, () => {
  sender.sendMany(burst, sinkAddress);
});

const denoSink = Deno.listenDatagram({
  hostname: "127.0.0.1",
  port: 0,
  transport: "udp",
});
const denoSender = Deno.listenDatagram({
  hostname: "127.0.0.1",
  port: 0,
  transport: "udp",
});
const denoReceiver = Deno.listenDatagram({
  hostname: "127.0.0.1",
  port: 0,
  transport: "udp",
});

Deno.bench("Deno DatagramConn.send ×64 (await)", {
  group: "send",
  baseline: true,
}, async () => {
  for (let i = 0; i < 64; i++) {
    await denoSender.send(payload, denoSink.addr);
  }
});

Deno.bench("UDPEndpoint send + receive ×64", { group: "round" }, () => {
  for (let i = 0; i < 64; i++) sender.send(payload, target);
  for (let i = 0; i < 64; i++) now(receiver.receive());
});

Deno.bench(
  "UDPEndpoint sendMany + receiveMany (64 datagrams)",
  { group: "round" },
  () => {
    sender.sendMany(burst, target);
    let got = 0;
    while (got < 64) got += now(receiver.receiveMany()).length;
  },
);

// Deno's fastest shape: receive(buffer) into one reused buffer (a bare
// receive() allocates 64 KiB per datagram).
const denoBuffer = new Uint8Array(2048);

Deno.bench("Deno send + receive(buffer) ×64 (await)", {
  group: "round",
  baseline: true,
}, async () => {
  for (let i = 0; i < 64; i++) {
    await denoSender.send(payload, denoReceiver.addr);
  }
  for (let i = 0; i < 64; i++) await denoReceiver.receive(denoBuffer);
});

globalThis.addEventListener("unload", () => {
  for (const endpoint of [sink, receiver, sender]) endpoint.close();
  for (const conn of [denoSink, denoSender, denoReceiver]) conn.close();
  loop.destroy();
});
