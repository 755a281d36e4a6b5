/**
 * One port served by a loop in each of several Workers: every Worker binds
 * 127.0.0.1:PORT with `{ reusePort: true }` (SO_REUSEPORT) and the kernel
 * spreads the connections over them; each connection gets "pong <worker>"
 * for every line it sends. The main thread then acts as a client: it makes
 * `--connections` connections, prints how many each Worker answered, and
 * exits. With `--seconds S` it serves for S seconds instead (the load of
 * bench/multicore.ts comes from outside).
 *
 *   deno run --allow-ffi --allow-read --allow-env examples/multicore_server.ts --workers 2 --connections 40
 *
 * Workers are not terminated: the process exits with them alive, so that a
 * Worker's teardown never unloads the native library under a loop that
 * still parks (Workers ending cleanly is the robustness issue's to fix).
 */

import { parseArgs } from "node:util";
import { EventLoop, spawn, StreamError, TCPClient, TCPServer } from "../mod.ts";

interface Start {
  worker: number;
  port: number;
}

if (
  typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !==
    "undefined"
) {
  // A Worker: serve until the main thread says stop.
  const loop = new EventLoop();
  let reply = new Uint8Array(0);
  const server = new TCPServer({
    *handleConnection(connection) {
      try {
        for (;;) {
          const line = yield* connection.readUntil("\n");
          if (line.length === 0) return;
          connection.write(reply);
        }
      } catch (error) {
        // A client that vanished (the load generator's exit) is no failure.
        if (!(error instanceof StreamError)) throw error;
      }
    },
  });
  const scope = self as unknown as {
    onmessage: (event: MessageEvent<Start | "stop">) => void;
    postMessage: (message: unknown) => void;
  };
  scope.onmessage = (event) => {
    if (event.data === "stop") {
      loop.callSoon(() => server.close());
      return;
    }
    const { worker, port } = event.data;
    reply = new TextEncoder().encode(`pong ${worker}\n`);
    server.bind({ hostname: "127.0.0.1", port }, { reusePort: true });
    scope.postMessage(server.sockname.port);
    spawn(function* () {
      try {
        yield* server.serve();
      } catch {
        // closed by "stop"
      }
    });
    loop.run();
  };
} else {
  const { values } = parseArgs({
    options: {
      workers: { type: "string", default: "2" },
      port: { type: "string", default: "0" },
      connections: { type: "string", default: "40" },
      seconds: { type: "string" },
    },
  });
  const count = Number(values.workers);
  const workers = Array.from(
    { length: count },
    () => new Worker(import.meta.url, { type: "module" }),
  );
  const bound = (worker: Worker, start: Start) =>
    new Promise<number>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
      worker.postMessage(start);
    });
  // The first Worker picks the port; the others join it.
  const port = await bound(workers[0], {
    worker: 0,
    port: Number(values.port),
  });
  for (let index = 1; index < count; index++) {
    await bound(workers[index], { worker: index, port });
  }
  console.log(`${count} workers listening on 127.0.0.1:${port}`);

  if (values.seconds !== undefined) {
    await new Promise((resolve) =>
      setTimeout(resolve, Number(values.seconds) * 1000)
    );
  } else {
    const answered = new Map<string, number>();
    using loop = new EventLoop();
    spawn(function* () {
      for (let index = 0; index < Number(values.connections); index++) {
        using client = new TCPClient();
        yield* client.connect({ hostname: "127.0.0.1", port });
        client.write("ping\n");
        const answer = new TextDecoder().decode(yield* client.readUntil("\n"));
        const worker = answer.trim();
        answered.set(worker, (answered.get(worker) ?? 0) + 1);
      }
    });
    await loop.run();
    for (const [worker, times] of [...answered].sort()) {
      console.log(`${worker}: ${times} connections`);
    }
  }
  for (const worker of workers) worker.postMessage("stop");
  Deno.exit(0);
}
