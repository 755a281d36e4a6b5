/**
 * The demo (`tools/dev demo`): a TCP echo server and a few client tasks on
 * fibers over 127.0.0.1, all in one thread on one event loop. Each client
 * does request/response round trips for `--seconds`; the demo prints what
 * happened and the round-trip rate, and ends by itself.
 *
 *   deno run --allow-ffi --allow-read --allow-env examples/demo.ts --clients 4 --seconds 2
 */

import { parseArgs } from "node:util";
import {
  EventLoop,
  sleep,
  spawn,
  type Task,
  TCPClient,
  TCPServer,
} from "../mod.ts";

const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "4" },
    seconds: { type: "string", default: "2" },
  },
});
const clientCount = Number(values.clients);
const durationMs = Number(values.seconds) * 1000;
const MESSAGE = "ping from a fiber\n";

using loop = new EventLoop();
let connectionsServed = 0;

const server = new TCPServer({
  // Each connection gets a task of its own; readUntil() suspends only that
  // task while the others keep running.
  *handleConnection(connection) {
    for (;;) {
      const line = yield* connection.readUntil("\n");
      if (line.length === 0) break;
      connection.write(line);
    }
    connection.close();
    connectionsServed++;
  },
});
server.bind({ hostname: "127.0.0.1", port: 0 });
const address = server.sockname;
console.log(`echo server listening on ${address.hostname}:${address.port}`);
spawn(function* () {
  yield* server.serve(); // returns once the server is closed
});

const results: { name: string; roundTrips: number }[] = [];
const clients: Task[] = [];
const started = loop.time();
for (let i = 1; i <= clientCount; i++) {
  clients.push(spawn(function* () {
    const name = `client ${i}`;
    using client = new TCPClient();
    yield* client.connect(address);
    let roundTrips = 0;
    const deadline = started + durationMs;
    while (loop.time() < deadline) {
      client.write(MESSAGE);
      const reply = yield* client.readUntil("\n");
      if (reply.length !== MESSAGE.length) {
        throw new Error(`${name}: short echo (${reply.length} bytes)`);
      }
      roundTrips++;
    }
    results.push({ name, roundTrips });
  }));
}

spawn(function* () {
  for (const client of clients) yield* client.join();
  const elapsedS = (loop.time() - started) / 1000;
  // Let the handlers see their clients' end of stream, then stop serving.
  for (let turn = 0; turn < 1000 && server.connections.length > 0; turn++) {
    yield* sleep(1);
  }
  server.close();
  let total = 0;
  for (const { name, roundTrips } of results) {
    total += roundTrips;
    console.log(`${name}: ${roundTrips} round trips`);
  }
  console.log(
    `${clientCount} clients, ${connectionsServed} connections served and closed`,
  );
  console.log(
    `${total} round trips in ${elapsedS.toFixed(2)} s: ${
      Math.round(total / elapsedS)
    } round trips/s; each client waited ${
      (elapsedS * 1e6 / total * clientCount).toFixed(1)
    } µs per round trip`,
  );
});

await loop.run();
