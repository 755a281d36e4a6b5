// Before/after comparison of two checkouts of this repository, side by side in
// one process, rounds interleaved: TCP ping-pong (1 connection, client and
// server in one process) under run() and runSync() for each checkout, and
// Deno's own Deno.connect/Deno.listen as the yardstick. Each checkout loads
// its own native library (its zig-out/lib, built with `zig build
// -Doptimize=ReleaseFast`), so leave EVERGREEN_LIB unset.
//
//   deno run -A bench/tcp_compare.ts BEFORE_DIR AFTER_DIR [ROUNDS] [REPEATS]
//
// Prints each side's best and median round trips/s and the ratios to Deno.

type Side = (size: number) => Promise<number>;

const [beforeDir, afterDir] = Deno.args;
if (beforeDir === undefined || afterDir === undefined) {
  throw new Error(
    "usage: tcp_compare.ts BEFORE_DIR AFTER_DIR [ROUNDS] [REPEATS]",
  );
}
const ROUNDS = Number(Deno.args[2] ?? "30000");
const REPEATS = Number(Deno.args[3] ?? "3");
const SIZES = [1, 1024];

/** The ping-pong of bench/tcp_pingpong.ts against the checkout at `dir`. */
async function checkout(dir: string, sync: boolean): Promise<Side> {
  const root = new URL(`file://${Deno.realPathSync(dir)}/`);
  const { EventLoop } = await import(new URL("src/loop.ts", root).href);
  const { spawn } = await import(new URL("src/tasks.ts", root).href);
  const { TCPClient, TCPServer } = await import(
    new URL("src/io/tcp.ts", root).href
  );
  const { StreamError } = await import(new URL("src/io/errors.ts", root).href);
  return async (size) => {
    const loop = new EventLoop();
    const server = new TCPServer({
      // deno-lint-ignore no-explicit-any
      *handleConnection(connection: any) {
        try {
          for (;;) {
            const message = yield* connection.readBytes(size);
            if (message.length === 0) break;
            connection.write(message);
          }
        } catch (error) {
          if (!(error instanceof StreamError)) throw error;
        }
        connection.close();
      },
    });
    server.bind({ hostname: "127.0.0.1", port: 0 });
    spawn(function* () {
      try {
        yield* server.serve();
      } catch (error) {
        if (!(error instanceof StreamError)) throw error;
      }
    });
    let elapsedMs = 0;
    spawn(function* () {
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      const message = new Uint8Array(size);
      const start = performance.now();
      for (let i = 0; i < ROUNDS; i++) {
        client.write(message);
        yield* client.readBytes(size);
      }
      elapsedMs = performance.now() - start;
      client.close();
      server.close();
    });
    if (sync) loop.runSync();
    else await loop.run();
    loop.destroy();
    return ROUNDS / elapsedMs * 1000;
  };
}

async function readFull(conn: Deno.Conn, buffer: Uint8Array): Promise<boolean> {
  let got = 0;
  while (got < buffer.length) {
    const n = await conn.read(buffer.subarray(got));
    if (n === null) return false;
    got += n;
  }
  return true;
}

const deno: Side = async (size) => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await listener.accept();
    conn.setNoDelay(true);
    const buffer = new Uint8Array(size);
    while (await readFull(conn, buffer)) await conn.write(buffer);
    conn.close();
  })();
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: (listener.addr as Deno.NetAddr).port,
  });
  conn.setNoDelay(true);
  const message = new Uint8Array(size);
  const buffer = new Uint8Array(size);
  const start = performance.now();
  for (let i = 0; i < ROUNDS; i++) {
    await conn.write(message);
    await readFull(conn, buffer);
  }
  const elapsedMs = performance.now() - start;
  conn.close();
  await serving;
  listener.close();
  return ROUNDS / elapsedMs * 1000;
};

const sides: [string, Side][] = [
  ["before run()", await checkout(beforeDir, false)],
  ["before runSync()", await checkout(beforeDir, true)],
  ["after run()", await checkout(afterDir, false)],
  ["after runSync()", await checkout(afterDir, true)],
  ["deno (await)", deno],
];

const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[values.length >> 1];
const format = (value: number): string => `${Math.round(value / 1000)}k`;

console.log(
  `TCP ping-pong, ${ROUNDS} round trips per repeat, best (median) of ${REPEATS}, round trips/s`,
);
for (const size of SIZES) {
  const figures = new Map<string, number[]>(sides.map(([name]) => [name, []]));
  for (let repeat = 0; repeat < REPEATS; repeat++) {
    for (const [name, side] of sides) figures.get(name)!.push(await side(size));
  }
  const denoBest = Math.max(...figures.get("deno (await)")!);
  console.log(`\n${size} B messages`);
  for (const [name] of sides) {
    const values = figures.get(name)!;
    const best = Math.max(...values);
    console.log(
      `  ${name.padEnd(18)} ${format(best).padStart(6)} (${
        format(median(values))
      })  ${(best / denoBest).toFixed(2)}x deno`,
    );
  }
}
