// The Deno twin of bench/servers/http.ts: Deno.serve, Deno's own HTTP
// server (hyper underneath), answering GET with "Hello, World!" and a
// request with a body with that body. Prints {"port":N} once it listens.
//
//   deno run -A bench/peers/http_deno.ts [--port N]

import { announce, serverArgs } from "../servers/common.ts";

const args = serverArgs();
Deno.serve({
  hostname: "127.0.0.1",
  port: args.port,
  onListen: ({ port }) => announce({ port }),
}, async (request) => {
  if (request.body === null) return new Response("Hello, World!");
  return new Response(await request.arrayBuffer());
});
