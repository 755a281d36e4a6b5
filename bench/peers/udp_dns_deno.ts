// Deno's twin of bench/udp_dns.ts's responder: the same DNS answer, written
// on Deno.listenDatagram in its fastest idiomatic shape (receive into one
// reused buffer, awaited sends).
//
//   deno run --allow-net --unstable-net bench/peers/udp_dns_deno.ts
//
// Prints the port it serves on, then answers until killed.

import { answerQuery } from "../udp_dns_answer.ts";

const conn = Deno.listenDatagram({
  hostname: "127.0.0.1",
  port: 0,
  transport: "udp",
});
console.log((conn.addr as Deno.NetAddr).port);
const query = new Uint8Array(512);
const reply = new Uint8Array(512);
for (;;) {
  const [data, from] = await conn.receive(query);
  const length = answerQuery(data, reply);
  if (length > 0) await conn.send(reply.subarray(0, length), from);
}
