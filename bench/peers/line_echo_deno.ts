// The Deno twin of bench/servers/line_echo.ts, in Deno's fastest idiomatic
// shape: Deno.listen({ transport: "unix" }), one async function per
// connection reading into a reused buffer and writing back, in one write,
// every complete line the read brought (what is left waits for its "\n"; at
// end of stream it goes back as it is). Prints {"path":P} once it listens.
//
//   deno run -A bench/peers/line_echo_deno.ts --path /tmp/echo.sock

import {
  announce,
  isDisconnect,
  serverArgs,
  writeAll,
} from "../servers/common.ts";

const args = serverArgs();
if (args.path === "") throw new Error("--path of the Unix socket is required");

async function handle(conn: Deno.Conn): Promise<void> {
  let buffer = new Uint8Array(64 * 1024);
  let end = 0;
  try {
    for (;;) {
      if (end === buffer.length) {
        const bigger = new Uint8Array(buffer.length * 2);
        bigger.set(buffer);
        buffer = bigger;
      }
      const n = await conn.read(buffer.subarray(end));
      if (n === null) break;
      const last = buffer.subarray(end, end + n).lastIndexOf(10);
      end += n;
      if (last < 0) continue;
      const lines = end - n + last + 1;
      await writeAll(conn, buffer.subarray(0, lines));
      buffer.copyWithin(0, lines, end);
      end -= lines;
    }
    await writeAll(conn, buffer.subarray(0, end));
  } catch (error) {
    if (!isDisconnect(error)) throw error;
  } finally {
    conn.close();
  }
}

try {
  Deno.removeSync(args.path);
} catch (error) {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
}
const listener = Deno.listen({ transport: "unix", path: args.path });
announce({ path: args.path });
for await (const conn of listener) handle(conn);
