// TLS against Deno's own, same run, same certificate (ECDSA P-256, made by
// the openssl CLI): handshakes/s (sequential, and 8 clients at once) and
// bulk throughput in GiB/s over one connection, client and server in this
// process on 127.0.0.1. evergreen: TLSClient/TLSServer (OpenSSL 3 through
// Deno.dlopen, one loop); Deno: Deno.connectTls/Deno.listenTls (rustls).
//
//   deno run -A bench/tls_compare.ts [HANDSHAKES] [MIB] [REPEATS]
//
// Prints each side's best (median) of REPEATS and evergreen's ratio to Deno.

import { EventLoop } from "../src/loop.ts";
import { spawn } from "../src/tasks.ts";
import { TLSClient, type TLSConnection, TLSServer } from "../src/io/tls.ts";
import { makeCertificates } from "../tests/fixtures/tls_certs.ts";

const HANDSHAKES = Number(Deno.args[0] ?? "400");
const MIB = Number(Deno.args[1] ?? "256");
const REPEATS = Number(Deno.args[2] ?? "3");
const PARALLEL = 8;
const CHUNK = 256 * 1024;

const certs = makeCertificates();

// ---- evergreen ----

async function evergreenRun(
  handler: (connection: TLSConnection) => Generator<unknown, void, unknown>,
  client: (port: number) => Generator<unknown, void, unknown>,
): Promise<number> {
  using loop = new EventLoop();
  const server = new TLSServer({
    cert: certs.certPem,
    key: certs.keyPem,
    handleConnection: handler,
  });
  server.bind({ hostname: "127.0.0.1", port: 0 });
  spawn(function* () {
    yield* server.serve();
  });
  let elapsed = 0;
  spawn(function* () {
    const start = performance.now();
    yield* client(server.sockname.port);
    elapsed = performance.now() - start;
    server.close();
  });
  await loop.run();
  return elapsed;
}

function* evergreenConnect(port: number): Generator<unknown, void, unknown> {
  using client = new TLSClient();
  yield* client.connect({ hostname: "127.0.0.1", port }, {
    caCerts: [certs.caPem],
  });
  yield* client.readBytes(1);
}

async function evergreenHandshakes(parallel: number): Promise<number> {
  const elapsed = await evergreenRun(function* (connection) {
    connection.write("k");
    yield* connection.flush();
  }, function* (port) {
    const per = HANDSHAKES / parallel;
    const tasks = Array.from({ length: parallel }, () =>
      spawn(function* () {
        for (let index = 0; index < per; index++) yield* evergreenConnect(port);
      }));
    for (const task of tasks) yield* task.join();
  });
  return HANDSHAKES / (elapsed / 1000);
}

async function evergreenThroughput(): Promise<number> {
  const total = MIB * 1024 * 1024;
  const data = new Uint8Array(CHUNK).fill(7);
  const elapsed = await evergreenRun(function* (connection) {
    const buffer = new Uint8Array(CHUNK);
    let received = 0;
    while (received < total) {
      const count = yield* connection.readInto(buffer);
      if (count === 0) break;
      received += count;
    }
    connection.write("k");
  }, function* (port) {
    using client = new TLSClient();
    yield* client.connect({ hostname: "127.0.0.1", port }, {
      caCerts: [certs.caPem],
    });
    for (let sent = 0; sent < total; sent += CHUNK) {
      client.write(data);
      yield* client.flush();
    }
    yield* client.readBytes(1);
  });
  return total / (elapsed / 1000) / 2 ** 30;
}

// ---- Deno ----

async function denoRun(
  handler: (connection: Deno.TlsConn) => Promise<void>,
  client: (port: number) => Promise<void>,
): Promise<number> {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: certs.certPem,
    key: certs.keyPem,
  });
  const serving = (async () => {
    for await (const connection of listener) {
      handler(connection).catch(() => {}).finally(() => {
        try {
          connection.close();
        } catch {
          // closed by the peer already
        }
      });
    }
  })();
  const start = performance.now();
  await client(listener.addr.port);
  const elapsed = performance.now() - start;
  listener.close();
  await serving.catch(() => {});
  return elapsed;
}

async function denoConnect(port: number): Promise<void> {
  const connection = await Deno.connectTls({
    hostname: "127.0.0.1",
    port,
    caCerts: [certs.caPem],
  });
  await connection.handshake();
  await connection.read(new Uint8Array(1));
  connection.close();
}

async function denoHandshakes(parallel: number): Promise<number> {
  const elapsed = await denoRun(async (connection) => {
    await connection.handshake();
    await connection.write(new Uint8Array([107]));
  }, async (port) => {
    const per = HANDSHAKES / parallel;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        for (let index = 0; index < per; index++) await denoConnect(port);
      }),
    );
  });
  return HANDSHAKES / (elapsed / 1000);
}

async function denoThroughput(): Promise<number> {
  const total = MIB * 1024 * 1024;
  const data = new Uint8Array(CHUNK).fill(7);
  const elapsed = await denoRun(async (connection) => {
    const buffer = new Uint8Array(CHUNK);
    let received = 0;
    while (received < total) {
      const count = await connection.read(buffer);
      if (count === null) break;
      received += count;
    }
    await connection.write(new Uint8Array([107]));
  }, async (port) => {
    const connection = await Deno.connectTls({
      hostname: "127.0.0.1",
      port,
      caCerts: [certs.caPem],
    });
    for (let sent = 0; sent < total;) {
      sent += await connection.write(data);
    }
    await connection.read(new Uint8Array(1));
    connection.close();
  });
  return total / (elapsed / 1000) / 2 ** 30;
}

// ---- report ----

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function compare(
  name: string,
  unit: string,
  evergreen: () => Promise<number>,
  deno: () => Promise<number>,
): Promise<void> {
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let repeat = 0; repeat < REPEATS; repeat++) {
    ours.push(await evergreen());
    theirs.push(await deno());
  }
  const best = (values: number[]) => Math.max(...values);
  const digits = unit === "GiB/s" ? 2 : 0;
  console.log(
    `${name.padEnd(28)} evergreen ${best(ours).toFixed(digits)} (${
      median(ours).toFixed(digits)
    }) ${unit}   deno ${best(theirs).toFixed(digits)} (${
      median(theirs).toFixed(digits)
    }) ${unit}   ratio ${(best(ours) / best(theirs)).toFixed(2)}x (median ${
      (median(ours) / median(theirs)).toFixed(2)
    }x)`,
  );
}

console.log(
  `TLS, ${HANDSHAKES} handshakes and ${MIB} MiB per repeat, best (median) of ${REPEATS}`,
);
await compare(
  "handshakes, sequential",
  "/s",
  () => evergreenHandshakes(1),
  () => denoHandshakes(1),
);
await compare(
  `handshakes, ${PARALLEL} at once`,
  "/s",
  () => evergreenHandshakes(PARALLEL),
  () => denoHandshakes(PARALLEL),
);
await compare(
  "throughput, 1 connection",
  "GiB/s",
  evergreenThroughput,
  denoThroughput,
);
Deno.removeSync(certs.directory, { recursive: true });
