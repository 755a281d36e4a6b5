// The Deno twin of bench/servers/resp.ts, in Deno's fastest idiomatic shape:
// Deno.listen, one async function per connection reading into a reused
// buffer, every complete command in it parsed and answered, the replies of
// one read leaving in one write. The same store and parser as ours
// (bench/servers/resp_protocol.ts). Prints {"port":N} once it listens.
//
//   deno run -A bench/peers/resp_deno.ts [--port N]

import {
  announce,
  isDisconnect,
  serverArgs,
  writeAll,
} from "../servers/common.ts";
import {
  InputBuffer,
  parseCommand,
  ProtocolError,
  protocolErrorReply,
  ReplyBuffer,
  Store,
} from "../servers/resp_protocol.ts";

const args = serverArgs();
const store = new Store();

async function handle(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  const input = new InputBuffer();
  const replies = new ReplyBuffer();
  try {
    for (;;) {
      const n = await conn.read(input.space());
      if (n === null) break;
      input.end += n;
      try {
        for (
          let parsed;
          (parsed = parseCommand(input.bytes, input.start, input.end)) !== null;
        ) {
          replies.push(store.execute(parsed.args));
          input.start = parsed.next;
        }
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        replies.push(protocolErrorReply(error));
        await writeAll(conn, replies.view());
        break;
      }
      input.settle();
      if (replies.length > 0) {
        await writeAll(conn, replies.view());
        replies.clear();
      }
    }
  } catch (error) {
    if (!isDisconnect(error)) throw error;
  } finally {
    conn.close();
  }
}

const listener = Deno.listen({ hostname: "127.0.0.1", port: args.port });
announce({ port: (listener.addr as Deno.NetAddr).port });
for await (const conn of listener) handle(conn);
