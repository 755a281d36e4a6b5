// A RESP-like server answering pipelined requests, written as a user would:
// per request `readUntil("\r\n")` for the array header and the bulk length,
// `readBytes` for the argument, one `write()` per reply. The clients (Deno's
// own networking, in this process) keep 16 requests in flight per connection
// (sent in one write). The server runs in a process of its own so that its
// CPU time (utime + stime from /proc/PID/stat) is its own; the figure is the
// server's CPU time per request, and requests per second. Twin: the same
// protocol on Deno.listen with a hand-written buffered parser.
//
//   deno run -A bench/tcp_pipelined.ts [SECONDS] [CONNECTIONS] [DEPTH]
//   (server side, spawned by the above: ... server ours|ours-sync|deno)

import { EventLoop } from "../src/loop.ts";
import { spawn } from "../src/tasks.ts";
import { TCPServer } from "../src/io/tcp.ts";

const encoder = new TextEncoder();
const REQUEST = encoder.encode("*1\r\n$4\r\nPING\r\n");
const REPLY = encoder.encode("+PONG\r\n");

function serveOurs(sync: boolean): Promise<void> | void {
  const loop = new EventLoop();
  const server = new TCPServer({
    *handleConnection(connection) {
      for (;;) {
        const header = yield* connection.readUntil("\r\n");
        if (header.length === 0) return;
        const count = Number(String.fromCharCode(...header.subarray(1, -2)));
        for (let i = 0; i < count; i++) {
          const bulk = yield* connection.readUntil("\r\n");
          const size = Number(String.fromCharCode(...bulk.subarray(1, -2)));
          yield* connection.readBytes(size + 2);
        }
        connection.write(REPLY);
      }
    },
  });
  server.bind({ hostname: "127.0.0.1", port: 0 });
  console.log(server.sockname.port);
  spawn(function* () {
    yield* server.serve();
  });
  return sync ? loop.runSync() : loop.run();
}

async function serveDeno(): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log((listener.addr as Deno.NetAddr).port);
  for await (const conn of listener) {
    conn.setNoDelay(true);
    (async () => {
      const buffer = new Uint8Array(64 * 1024);
      let start = 0;
      let end = 0;
      const replies = new Uint8Array(REPLY.length * 1024);
      for (;;) {
        if (start === end) start = end = 0;
        const n = await conn.read(buffer.subarray(end));
        if (n === null) break;
        end += n;
        let out = 0;
        // Parse every complete request; answer them in one write.
        for (;;) {
          const parsed = parseRequest(buffer, start, end);
          if (parsed < 0) break;
          start = parsed;
          replies.set(REPLY, out);
          out += REPLY.length;
        }
        if (out > 0) await conn.write(replies.subarray(0, out));
        if (start > 0 && end === buffer.length) {
          buffer.copyWithin(0, start, end);
          end -= start;
          start = 0;
        }
      }
      conn.close();
    })();
  }
}

/** The end of the complete request at `start`, or -1. */
function parseRequest(buffer: Uint8Array, start: number, end: number): number {
  const lineEnd = (from: number): number => {
    for (let i = from; i + 1 < end; i++) {
      if (buffer[i] === 13 && buffer[i + 1] === 10) return i + 2;
    }
    return -1;
  };
  let at = lineEnd(start);
  if (at < 0) return -1;
  const count = Number(
    String.fromCharCode(...buffer.subarray(start + 1, at - 2)),
  );
  for (let i = 0; i < count; i++) {
    const next = lineEnd(at);
    if (next < 0) return -1;
    const size = Number(
      String.fromCharCode(...buffer.subarray(at + 1, next - 2)),
    );
    if (next + size + 2 > end) return -1;
    at = next + size + 2;
  }
  return at;
}

/** [utime, stime] of a process, in seconds. */
function cpuSeconds(pid: number): [number, number] {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return [Number(fields[11]) / 100, Number(fields[12]) / 100];
}

async function drive(
  kind: string,
  seconds: number,
  connections: number,
  depth: number,
): Promise<
  { usPerRequest: number; userShare: number; requestsPerSecond: number }
> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "server", kind],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  const port = Number(new TextDecoder().decode(value).trim());
  const batch = new Uint8Array(REQUEST.length * depth);
  for (let i = 0; i < depth; i++) batch.set(REQUEST, i * REQUEST.length);
  const expected = REPLY.length * depth;
  let requests = 0;
  let measuring = false;
  let stop = false;
  const clients = Array.from({ length: connections }, async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    const buffer = new Uint8Array(64 * 1024);
    while (!stop) {
      await conn.write(batch);
      let got = 0;
      while (got < expected) {
        const n = await conn.read(buffer);
        if (n === null) throw new Error("the server closed");
        got += n;
      }
      if (measuring) requests += depth;
    }
    conn.close();
  });
  await new Promise((resolve) => setTimeout(resolve, 500)); // warm up
  measuring = true;
  const cpuBefore = cpuSeconds(child.pid);
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const cpuAfter = cpuSeconds(child.pid);
  const elapsed = (performance.now() - started) / 1000;
  const counted = requests;
  measuring = false;
  stop = true;
  await Promise.all(clients);
  child.kill("SIGTERM");
  await child.status;
  reader.releaseLock();
  await child.stdout.cancel();
  const user = cpuAfter[0] - cpuBefore[0];
  const system = cpuAfter[1] - cpuBefore[1];
  return {
    usPerRequest: ((user + system) / counted) * 1e6,
    userShare: user / (user + system),
    requestsPerSecond: counted / elapsed,
  };
}

if (Deno.args[0] === "server") {
  const kind = Deno.args[1];
  if (kind === "deno") await serveDeno();
  else await serveOurs(kind === "ours-sync");
} else {
  const seconds = Number(Deno.args[0] ?? "3");
  const connections = Number(Deno.args[1] ?? "8");
  const depth = Number(Deno.args[2] ?? "16");
  console.log(
    `RESP-like PING, ${connections} connections x ${depth} pipelined, ${seconds} s per side`,
  );
  for (const kind of ["ours", "ours-sync", "deno"]) {
    const { usPerRequest, userShare, requestsPerSecond } = await drive(
      kind,
      seconds,
      connections,
      depth,
    );
    console.log(
      `${kind.padEnd(10)} server CPU ${usPerRequest.toFixed(2)} µs/request (${
        Math.round(userShare * 100)
      }% user), ${Math.round(requestsPerSecond)} requests/s`,
    );
  }
}
