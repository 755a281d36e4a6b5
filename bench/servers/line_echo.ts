// Our line echo over a Unix socket, written as a user of mod.ts would: a
// PipeServer, one task per connection. Two shapes (--shape):
//
//   lines     (default) readUntil("\n") and one write() per line: the API's
//             natural shape.
//   buffered  readInto() a buffer and one write() of every complete line it
//             holds: what the Deno twin (bench/peers/line_echo_deno.ts) does.
//
// At end of stream what is left (a last line without "\n") goes back too.
// Prints {"path":P} once it listens.
//
//   deno run -A bench/servers/line_echo.ts --path /tmp/echo.sock [--shape lines|buffered] [--sync]

import {
  EventLoop,
  type PipeConnection,
  PipeServer,
  spawn,
  StreamError,
} from "../../mod.ts";
import { serveInTask } from "../tcp_shapes.ts";
import { announce, serverArgs } from "./common.ts";

const args = serverArgs("lines");
if (args.path === "") throw new Error("--path of the Unix socket is required");

/** readUntil("\n") and one write() per line: the API's natural shape. */
function* lineShape(connection: PipeConnection) {
  for (;;) {
    const line = yield* connection.readUntil("\n");
    if (line.length === 0) return;
    connection.write(line);
  }
}

/** readInto() a buffer, one write() of every complete line it holds. */
function* bufferedShape(connection: PipeConnection) {
  let buffer = new Uint8Array(64 * 1024);
  let end = 0;
  for (;;) {
    if (end === buffer.length) {
      const bigger = new Uint8Array(buffer.length * 2);
      bigger.set(buffer);
      buffer = bigger;
    }
    const n = yield* connection.readInto(buffer.subarray(end));
    if (n === 0) break;
    const last = buffer.subarray(end, end + n).lastIndexOf(10);
    end += n;
    if (last < 0) continue;
    const lines = end - n + last + 1;
    // write() copies what it keeps: the buffer may be reused at once.
    connection.write(buffer.subarray(0, lines));
    buffer.copyWithin(0, lines, end);
    end -= lines;
  }
  if (end > 0) connection.write(buffer.subarray(0, end));
}

const shape = args.shape === "lines"
  ? lineShape
  : args.shape === "buffered"
  ? bufferedShape
  : null;
if (shape === null) throw new Error("--shape must be lines or buffered");

using loop = new EventLoop();
const server = new PipeServer({
  *handleConnection(connection) {
    try {
      yield* shape(connection);
      yield* connection.flush();
    } catch (error) {
      if (!(error instanceof StreamError)) throw error;
    } finally {
      connection.close();
    }
  },
});
try {
  Deno.removeSync(args.path);
} catch (error) {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
}
server.bind(args.path);
serveInTask({ spawn, StreamError }, server);
announce({ path: args.path });
if (args.sync) loop.runSync();
else await loop.run();
