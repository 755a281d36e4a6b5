// Our RESP (Redis protocol) server, written as a user of mod.ts would: one
// task per connection. Two shapes (--shape):
//
//   stream    (default) readUntil("\r\n") for each line and readBytes for
//             each bulk string, one write() per reply: the API's natural
//             shape.
//   buffered  readInto() a buffer, parse every complete command in it, and
//             one write() with all the replies of that read: what the Deno
//             twin (bench/peers/resp_deno.ts) does.
//
// Handles arrays of bulk strings and inline commands; see resp_protocol.ts
// for the commands. Prints {"port":N} once it listens.
//
//   deno run -A bench/servers/resp.ts [--port N] [--shape stream|buffered] [--sync]

import {
  EventLoop,
  spawn,
  StreamError,
  type TCPConnection,
  TCPServer,
} from "../../mod.ts";
import { serveInTask } from "../tcp_shapes.ts";
import { announce, serverArgs } from "./common.ts";
import {
  InputBuffer,
  parseCommand,
  parseDecimal,
  ProtocolError,
  protocolErrorReply,
  ReplyBuffer,
  splitInline,
  Store,
} from "./resp_protocol.ts";

const args = serverArgs("stream");
// readBytes() returns arrays the server owns; the buffered shape's
// arguments are views of its input buffer, which the store must copy.
const store = new Store({ copyValues: args.shape === "buffered" });

/** One command through readUntil/readBytes; null at end of stream. */
function* readCommand(
  connection: TCPConnection,
): Generator<unknown, Uint8Array[] | null, unknown> {
  const line = yield* connection.readUntil("\r\n");
  if (line.length === 0) return null;
  if (line[line.length - 1] !== 10) return null; // ended without CRLF
  const end = line.length - 2;
  if (line[0] !== 42 /* * */) return splitInline(line, 0, end);
  const count = parseDecimal(line, 1, end);
  if (count < 0) throw new ProtocolError("invalid multibulk length");
  const command: Uint8Array[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const header = yield* connection.readUntil("\r\n");
    if (header.length === 0) return null;
    if (header[0] !== 36 /* $ */) {
      throw new ProtocolError(
        `expected '$', got '${String.fromCharCode(header[0])}'`,
      );
    }
    const length = parseDecimal(header, 1, header.length - 2);
    if (length < 0 || header[header.length - 1] !== 10) {
      throw new ProtocolError("invalid bulk length");
    }
    const data = yield* connection.readBytes(length + 2);
    if (data.length < length + 2) return null;
    command[i] = data.subarray(0, length);
  }
  return command;
}

function* streamShape(connection: TCPConnection) {
  for (;;) {
    const command = yield* readCommand(connection);
    if (command === null) return;
    connection.write(store.execute(command));
  }
}

function* bufferedShape(connection: TCPConnection) {
  const input = new InputBuffer();
  const replies = new ReplyBuffer();
  for (;;) {
    const n = yield* connection.readInto(input.space());
    if (n === 0) return;
    input.end += n;
    for (
      let parsed;
      (parsed = parseCommand(input.bytes, input.start, input.end)) !== null;
    ) {
      replies.push(store.execute(parsed.args));
      input.start = parsed.next;
    }
    input.settle();
    if (replies.length > 0) {
      connection.write(replies.view()); // write() copies what it keeps
      replies.clear();
    }
  }
}

const shape = args.shape === "buffered"
  ? bufferedShape
  : args.shape === "stream"
  ? streamShape
  : null;
if (shape === null) throw new Error(`--shape must be stream or buffered`);

using loop = new EventLoop();
const server = new TCPServer({
  *handleConnection(connection) {
    try {
      yield* shape(connection);
      yield* connection.flush();
    } catch (error) {
      if (error instanceof ProtocolError) {
        connection.write(protocolErrorReply(error));
        yield* connection.flush();
      } else if (!(error instanceof StreamError)) throw error;
    } finally {
      connection.close();
    }
  },
});
server.bind({ hostname: "127.0.0.1", port: args.port });
serveInTask({ spawn, StreamError }, server);
announce({ port: server.sockname.port });
if (args.sync) loop.runSync();
else await loop.run();
