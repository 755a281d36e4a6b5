/**
 * UDP request/response over 127.0.0.1: a responder task answers each
 * `ping N` datagram with `pong N` to whoever sent it; a client task sends
 * `--count` pings one at a time, waits for each answer under a Timeout (a
 * datagram may be lost: UDP does not retry), and prints the round-trip
 * times.
 *
 *   deno run --allow-ffi --allow-read --allow-env examples/udp_ping.ts --count 10
 */

import { parseArgs } from "node:util";
import { EventLoop, spawn, StreamError, Timeout, UDPEndpoint } from "../mod.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "10" },
    "timeout-ms": { type: "string", default: "1000" },
  },
});
const count = Number(values.count);
const timeoutMs = Number(values["timeout-ms"]);
const decoder = new TextDecoder();

using loop = new EventLoop();
using responder = new UDPEndpoint();
responder.bind({ hostname: "127.0.0.1", port: 0 });
const { port } = responder.sockname;
console.log(`responder on 127.0.0.1:${port}`);

let answered = 0;
spawn(function* () {
  try {
    for (;;) {
      const [request, sender] = yield* responder.receive();
      const text = decoder.decode(request);
      responder.send(text.replace("ping", "pong"), sender);
      answered++;
    }
  } catch (error) {
    // close() wakes receive() with EBADF: the responder's way out.
    if (!(error instanceof StreamError && error.code === "EBADF")) throw error;
  }
});

spawn(function* () {
  using client = new UDPEndpoint();
  const rttsMs: number[] = [];
  let lost = 0;
  for (let i = 1; i <= count; i++) {
    const sent = loop.time();
    client.send(`ping ${i}`, responder.sockname);
    try {
      using _timeout = Timeout.after(timeoutMs);
      const [reply, from] = yield* client.receive();
      const text = decoder.decode(reply);
      if (text !== `pong ${i}` || from.port !== port) {
        throw new Error(
          `unexpected ${text} from ${from.hostname}:${from.port}`,
        );
      }
      rttsMs.push(loop.time() - sent);
    } catch (error) {
      if (!(error instanceof Timeout)) throw error;
      lost++;
    }
  }
  responder.close();
  const [min, max] = [Math.min(...rttsMs), Math.max(...rttsMs)];
  const average = rttsMs.reduce((a, b) => a + b, 0) / rttsMs.length;
  console.log(
    `${rttsMs.length}/${count} pongs, ${lost} lost; responder answered ${answered}`,
  );
  console.log(
    `round trip: min ${(min * 1000).toFixed(0)} µs, avg ${
      (average * 1000).toFixed(0)
    } µs, max ${(max * 1000).toFixed(0)} µs`,
  );
});

await loop.run();
