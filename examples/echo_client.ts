/**
 * A TCP echo client on a task: connects to examples/echo_server.ts, sends
 * `--count` lines, checks each echo and prints the round-trip time. Start
 * the server first, then:
 *
 *   deno run --allow-ffi --allow-read --allow-env examples/echo_client.ts --port 7007 --count 5
 */

import { parseArgs } from "node:util";
import { EventLoop, spawn, TCPClient } from "../mod.ts";

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "7007" },
    count: { type: "string", default: "5" },
  },
});
const count = Number(values.count);
const decoder = new TextDecoder();

using loop = new EventLoop();
spawn(function* () {
  using client = new TCPClient();
  try {
    yield* client.connect({ hostname: values.host, port: Number(values.port) });
  } catch (error) {
    console.error(`${(error as Error).message}: is echo_server.ts running?`);
    Deno.exitCode = 1;
    return;
  }
  const { hostname, port } = client.sockname;
  console.log(`connected from ${hostname}:${port}`);
  const started = loop.time();
  for (let i = 1; i <= count; i++) {
    const message = `message ${i} of ${count}\n`;
    client.write(message);
    const reply = decoder.decode(yield* client.readUntil("\n"));
    if (reply !== message) throw new Error(`expected ${message}, got ${reply}`);
    console.log(`echo: ${reply.trimEnd()}`);
  }
  const elapsedMs = loop.time() - started;
  console.log(
    `${count} round trips in ${elapsedMs.toFixed(2)} ms (${
      (elapsedMs * 1000 / count).toFixed(0)
    } µs each)`,
  );
});
await loop.run();
