// Our DNS responder over UDP, written as a user of mod.ts would: one task
// receiving queries on a UDPEndpoint and sending each reply as it goes
// (send() never waits). The message work is bench/servers/dns_message.ts,
// shared with the Deno twin. Prints {"port":N} once it listens.
//
//   deno run -A bench/servers/dns.ts [--port N] [--sync]

import { EventLoop, spawn, StreamError, UDPEndpoint } from "../../mod.ts";
import { announce, serverArgs } from "./common.ts";
import { answer } from "./dns_message.ts";

const args = serverArgs();

using loop = new EventLoop();
using endpoint = new UDPEndpoint();
endpoint.bind({ hostname: "127.0.0.1", port: args.port });
spawn(function* () {
  try {
    for (;;) {
      const [query, from] = yield* endpoint.receive();
      const reply = answer(query);
      if (reply !== null) endpoint.send(reply, from);
    }
  } catch (error) {
    // close() wakes receive() with EBADF: the way out.
    if (!(error instanceof StreamError && error.code === "EBADF")) throw error;
  }
});
announce({ port: endpoint.sockname.port });
if (args.sync) loop.runSync();
else await loop.run();
