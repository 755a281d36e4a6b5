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
}, (request) =>
  // A plain function: a bodiless request gets its Response without a
  // promise (an async handler makes one per request).
  request.body === null
    ? new Response("Hello, World!")
    : request.arrayBuffer().then((body) => new Response(body)));
