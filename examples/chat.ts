/**
 * A chat server with many clients, in one process over 127.0.0.1: each
 * connection's handler task sends the lines it reads into one unbuffered
 * Channel, and a single broadcaster task receives from it and writes each
 * message to every other member. `--clients` client tasks join, wait until
 * everyone is in, say `--messages` lines each, read what the others said,
 * and leave; then the server shuts down.
 *
 *   deno run --allow-ffi --allow-read --allow-env examples/chat.ts --clients 5 --messages 3
 */

import { parseArgs } from "node:util";
import {
  Channel,
  Event,
  EventLoop,
  sleep,
  spawn,
  StopIteration,
  TCPClient,
  type TCPConnection,
  TCPServer,
} from "../mod.ts";

const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "5" },
    messages: { type: "string", default: "3" },
  },
});
const clientCount = Number(values.clients);
const messageCount = Number(values.messages);
const decoder = new TextDecoder();

using loop = new EventLoop();

// ---- The server ----------------------------------------------------------

type Message = { from: string; text: string };
const channel = new Channel<Message>();
const members = new Map<string, TCPConnection>();
const everyoneIn = new Event();
const everyoneLeft = new Event();
let joined = 0;
let broadcasts = 0;
let deliveries = 0;

const server = new TCPServer({
  *handleConnection(connection) {
    const name = `user-${++joined}`;
    members.set(name, connection);
    connection.write(`welcome ${name}\n`);
    if (members.size === clientCount) everyoneIn.set();
    for (;;) {
      const line = decoder.decode(yield* connection.readUntil("\n"));
      if (line === "") break;
      // Blocks until the broadcaster takes it: the channel has no buffer.
      yield* channel.send({ from: name, text: line.trimEnd() });
    }
    members.delete(name);
    connection.close();
    if (members.size === 0) everyoneLeft.set();
  },
});
server.bind({ hostname: "127.0.0.1", port: 0 });
const address = server.sockname;
console.log(`chat server on 127.0.0.1:${address.port}`);

spawn(function* () {
  yield* server.serve(); // returns once the server is closed
});

// The broadcaster: one task owns the fan-out, so messages keep one order.
spawn(function* () {
  yield* channel.forEach(({ from, text }) => {
    broadcasts++;
    for (const [name, member] of members) {
      if (name === from) continue;
      member.write(`${from}: ${text}\n`);
      deliveries++;
    }
  });
});

// ---- The clients -----------------------------------------------------------

for (let i = 0; i < clientCount; i++) {
  spawn(function* () {
    using client = new TCPClient();
    yield* client.connect(address);
    const welcome = decoder.decode(yield* client.readUntil("\n"));
    const name = welcome.trimEnd().slice("welcome ".length);
    yield* everyoneIn.wait();
    for (let m = 1; m <= messageCount; m++) {
      client.write(`hello #${m} from ${name}\n`);
      yield* sleep(1);
    }
    const expected = (clientCount - 1) * messageCount;
    const senders = new Set<string>();
    for (let n = 0; n < expected; n++) {
      const line = decoder.decode(yield* client.readUntil("\n"));
      senders.add(line.slice(0, line.indexOf(":")));
    }
    console.log(
      `${name} heard ${expected} messages from ${senders.size} others`,
    );
  });
}

// ---- Shutdown ----------------------------------------------------------------

spawn(function* () {
  yield* everyoneIn.wait();
  yield* everyoneLeft.wait();
  yield* channel.sendException(new StopIteration());
  server.close();
  console.log(
    `${joined} clients, ${broadcasts} messages broadcast, ${deliveries} deliveries`,
  );
});

await loop.run();
