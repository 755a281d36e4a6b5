// What the benchmark servers in bench/servers/ (ours) and bench/peers/ (the
// Deno twins) share: their command line and the one JSON line each prints on
// stdout once it listens, which bench/real_clients.ts and
// tests/bench_servers_test.ts wait for; the twins' write loop and
// disconnect check; and the PATH check the benchmark and its test use. Nothing here loads the library.
//
//   --port N     TCP/UDP port on 127.0.0.1 (0: any free one, the default)
//   --path P     Unix socket path (the line echo)
//   --sync       ours only: run the loop with runSync() instead of run()
//   --shape S    ours only, where a server has several shapes

import { parseArgs } from "node:util";

/** The parsed command line of a benchmark server. */
export interface ServerArgs {
  port: number;
  path: string;
  sync: boolean;
  shape: string;
}

/** Parses `Deno.args`; `shape` defaults to `defaultShape`. */
export function serverArgs(defaultShape = ""): ServerArgs {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string", default: "0" },
      path: { type: "string", default: "" },
      sync: { type: "boolean", default: false },
      shape: { type: "string", default: defaultShape },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`--port must be 0..65535, got ${values.port}`);
  }
  return {
    port,
    path: values.path,
    sync: values.sync,
    shape: values.shape,
  };
}

/** Prints the line that says the server listens: `{"port":N}` or `{"path":P}`. */
export function announce(where: { port: number } | { path: string }): void {
  console.log(JSON.stringify(where));
}

/** The twins' write: every byte of `bytes`, however many writes it takes. */
export async function writeAll(
  conn: Deno.Conn,
  bytes: Uint8Array,
): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    at += await conn.write(bytes.subarray(at));
  }
}

/** Whether `error` only says the client went away (a twin ends quietly). */
export function isDisconnect(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe;
}

/** Whether `binary` is on the PATH (the clients and tools the runs use). */
export async function hasCommand(binary: string): Promise<boolean> {
  const { success } = await new Deno.Command("sh", {
    args: ["-c", `command -v ${binary}`],
    stdout: "null",
    stderr: "null",
  }).output();
  return success;
}
