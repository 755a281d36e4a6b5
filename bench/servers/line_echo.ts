// Our line echo over a Unix socket, written as a user of mod.ts would: a
// PipeServer, one task per connection, readUntil("\n") and one write() per
// line; at end of stream what is left (a last line without "\n") goes back
// too. Prints {"path":P} once it listens.
//
//   deno run -A bench/servers/line_echo.ts --path /tmp/echo.sock [--sync]

import { EventLoop, PipeServer, spawn, StreamError } from "../../mod.ts";
import { serveInTask } from "../tcp_shapes.ts";
import { announce, serverArgs } from "./common.ts";

const args = serverArgs();
if (args.path === "") throw new Error("--path of the Unix socket is required");

using loop = new EventLoop();
const server = new PipeServer({
  *handleConnection(connection) {
    try {
      for (;;) {
        const line = yield* connection.readUntil("\n");
        if (line.length === 0) break;
        connection.write(line);
      }
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
