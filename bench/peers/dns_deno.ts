// The Deno twin of bench/servers/dns.ts, in Deno's fastest idiomatic shape:
// Deno.listenDatagram, receive(buffer) into one reused buffer (no 64 KiB
// allocation per datagram), await send of each reply. The same message
// work (bench/servers/dns_message.ts). Prints {"port":N} once it listens.
//
//   deno run -A --unstable-net bench/peers/dns_deno.ts [--port N]

import { announce, serverArgs } from "../servers/common.ts";
import { answer } from "../servers/dns_message.ts";

const args = serverArgs();
const conn = Deno.listenDatagram({
  hostname: "127.0.0.1",
  port: args.port,
  transport: "udp",
});
announce({ port: (conn.addr as Deno.NetAddr).port });
const buffer = new Uint8Array(65536);
for (;;) {
  const [query, from] = await conn.receive(buffer);
  const reply = answer(query);
  if (reply !== null) await conn.send(reply, from);
}
