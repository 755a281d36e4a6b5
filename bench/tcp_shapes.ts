// The TCP ping-pong shapes shared by bench/tcp_pingpong.ts (ours against
// Deno and the peers) and bench/tcp_compare.ts (two checkouts against Deno):
// one connection, client and server in one process, each message echoed
// back; a side returns round trips per second.

import type { EventLoop } from "../src/loop.ts";
import type { spawn } from "../src/tasks.ts";
import type { TCPClient, TCPServer } from "../src/io/tcp.ts";
import type { StreamError } from "../src/io/errors.ts";

/** One contender: round trips per second for messages of `size` bytes. */
export type Side = (size: number) => Promise<number>;

/** The parts of a checkout the ping-pong needs (static or dynamic imports). */
export interface Modules {
  EventLoop: typeof EventLoop;
  spawn: typeof spawn;
  TCPClient: typeof TCPClient;
  TCPServer: typeof TCPServer;
  StreamError: typeof StreamError;
}

/** Ours: an echo server task and a client task doing `rounds` round trips. */
export function evergreenPingPong(
  modules: Modules,
  sync: boolean,
  rounds: number,
): Side {
  const { EventLoop, spawn, TCPClient } = modules;
  return async (size) => {
    const loop = new EventLoop();
    const server = startEchoServer(modules, size);
    let elapsedMs = 0;
    spawn(function* () {
      const client = new TCPClient();
      yield* client.connect(server.sockname);
      const message = new Uint8Array(size);
      const start = performance.now();
      for (let i = 0; i < rounds; i++) {
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
    return rounds / elapsedMs * 1000;
  };
}

/**
 * Ours: an echo server for `size`-byte messages on 127.0.0.1 (an ephemeral
 * port), serving in a task of the current loop until closed;
 * `afterConnection` runs as each connection ends.
 */
export function startEchoServer(
  modules: Pick<Modules, "spawn" | "TCPServer" | "StreamError">,
  size: number,
  afterConnection: (server: TCPServer) => void = () => {},
): TCPServer {
  const { TCPServer, StreamError } = modules;
  const server = new TCPServer({
    *handleConnection(connection) {
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
      afterConnection(server);
    },
  });
  server.bind({ hostname: "127.0.0.1", port: 0 });
  serveInTask(modules, server);
  return server;
}

/**
 * Serves `server` (a TCPServer or PipeServer) in a task until it is closed
 * (the error that ends it).
 */
export function serveInTask(
  modules: Pick<Modules, "spawn" | "StreamError">,
  server: { serve(): Generator<unknown, void, unknown> },
): void {
  const { spawn, StreamError } = modules;
  spawn(function* () {
    try {
      yield* server.serve();
    } catch (error) {
      if (!(error instanceof StreamError)) throw error;
    }
  });
}

/** Reads until `buffer` is full; false at end of stream. */
export async function readFull(
  conn: Deno.Conn,
  buffer: Uint8Array,
): Promise<boolean> {
  let got = 0;
  while (got < buffer.length) {
    const n = await conn.read(buffer.subarray(got));
    if (n === null) return false;
    got += n;
  }
  return true;
}

/** Deno's own: the same shape with Deno.connect/Deno.listen and await. */
export function denoPingPong(rounds: number): Side {
  return async (size) => {
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
    for (let i = 0; i < rounds; i++) {
      await conn.write(message);
      await readFull(conn, buffer);
    }
    const elapsedMs = performance.now() - start;
    conn.close();
    await serving;
    listener.close();
    return rounds / elapsedMs * 1000;
  };
}

/**
 * Runs every side `repeats` times per size, rounds interleaved so that
 * machine noise hits every side alike; figures by side name.
 */
export async function measure(
  sides: [string, Side][],
  size: number,
  repeats: number,
): Promise<Map<string, number[]>> {
  const figures = new Map<string, number[]>(sides.map(([name]) => [name, []]));
  for (let repeat = 0; repeat < repeats; repeat++) {
    for (const [name, side] of sides) figures.get(name)!.push(await side(size));
  }
  return figures;
}

/** The median of `values`. */
export const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[values.length >> 1];

/** Thousands of round trips per second, e.g. "48k". */
export const format = (value: number): string => `${Math.round(value / 1000)}k`;
