/**
 * A TCP echo server on tasks: every connection's handler runs in a task of
 * its own and writes back each line it reads. It listens on 127.0.0.1 (port
 * 0 picks a free one; the port is printed) and ends by itself once
 * `--connections` clients have come and gone, or after `--idle-ms` without
 * any client. Try it with examples/echo_client.ts:
 *
 *   deno run --allow-ffi --allow-read --allow-env examples/echo_server.ts --port 7007 --connections 2
 */

import { parseArgs } from "node:util";
import { EventLoop, type Handler, spawn, TCPServer } from "../mod.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    connections: { type: "string", default: "3" },
    "idle-ms": { type: "string", default: "30000" },
  },
});
const connectionsMax = Number(values.connections);
const idleMs = Number(values["idle-ms"]);

using loop = new EventLoop();
let served = 0;
let echoedBytes = 0;
let idle: Handler | null = null;

function armIdleTimer() {
  idle = loop.callLater(idleMs, () => {
    console.log(`no client for ${idleMs} ms: stopping`);
    server.close();
  });
}

const server = new TCPServer({
  *handleConnection(connection) {
    idle?.cancel();
    const { hostname, port } = connection.peername;
    const peer = `${hostname}:${port}`;
    console.log(`${peer} connected`);
    for (;;) {
      const line = yield* connection.readUntil("\n");
      if (line.length === 0) break; // the client closed its side
      echoedBytes += line.length;
      connection.write(line);
    }
    yield* connection.flush();
    connection.close();
    served++;
    console.log(`${peer} left (${served}/${connectionsMax})`);
    if (served >= connectionsMax) server.close();
    else if (server.connections.length === 0) armIdleTimer();
  },
});
server.bind({ hostname: "127.0.0.1", port: Number(values.port) });
console.log(`listening on 127.0.0.1:${server.sockname.port}`);
armIdleTimer();

spawn(function* () {
  yield* server.serve(); // returns once close() stops the server
});

await loop.run();
console.log(`served ${served} connections, echoed ${echoedBytes} bytes`);
