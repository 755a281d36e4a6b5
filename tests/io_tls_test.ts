// TLS (issue 13, point 3) against real peers: our TLSClient and TLSServer
// with each other, with `openssl s_server` and `openssl s_client`, and with
// `curl --cacert`, over 127.0.0.1, with certificates the openssl CLI makes
// for each run (tests/fixtures/tls_certs.ts). Failures (an untrusted
// certificate, a wrong host name, a peer that closes mid-handshake) must be
// TLSErrors that say what went wrong.

import assert from "node:assert/strict";
import { sleep, spawn } from "../src/tasks.ts";
import { waitPromise } from "../src/futures.ts";
import { TCPServer } from "../src/io/tcp.ts";
import { TLSClient, type TLSConnection, TLSServer } from "../src/io/tls.ts";
import { StreamError, TLSError } from "../src/io/errors.ts";
import { makeCertificates } from "./fixtures/tls_certs.ts";
import { scenario } from "./fixtures/stream_harness.ts";

const certs = makeCertificates();
globalThis.addEventListener("unload", () => {
  Deno.removeSync(certs.directory, { recursive: true });
});

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const MiB = 1024 * 1024;

function pattern(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let state = seed;
  for (let index = 0; index < size; index++) {
    state = (state * 1103515245 + 12345) >>> 0;
    bytes[index] = state >>> 24;
  }
  return bytes;
}

function tlsTest(
  name: string,
  main: () => Generator<unknown, void, unknown>,
): void {
  Deno.test(name, () => scenario("run", main, 60_000));
}

/** A TLSServer on 127.0.0.1 serving in a task; close it when done. */
function startServer(
  handleConnection: (c: TLSConnection) => Generator<unknown, void, unknown>,
  alpnProtocols?: string[],
): TLSServer {
  const server = new TLSServer({
    cert: certs.certPem,
    key: certs.keyPem,
    alpnProtocols,
    handleConnection,
  });
  server.bind({ hostname: "127.0.0.1", port: 0 });
  spawn(function* () {
    yield* server.serve();
  });
  return server;
}

function* expectTLSError(
  operation: Generator<unknown, unknown, unknown>,
): Generator<unknown, TLSError, unknown> {
  try {
    yield* operation;
  } catch (error) {
    assert.ok(error instanceof TLSError, `expected a TLSError, got ${error}`);
    assert.ok(error instanceof StreamError);
    return error;
  }
  throw new Error("expected a TLSError, but the operation succeeded");
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

tlsTest(
  "a TLSClient and a TLSServer exchange lines and agree on ALPN",
  function* () {
    using server = startServer(function* (connection) {
      const line = yield* connection.readUntil("\n");
      connection.write(`${connection.alpnProtocol}:${text(line)}`);
    }, ["h2", "http/1.1"]);
    using client = new TLSClient();
    yield* client.connect(
      { hostname: "localhost", port: server.sockname.port },
      { caCerts: [certs.caPem], alpnProtocols: ["http/1.1"] },
    );
    assert.equal(client.alpnProtocol, "http/1.1");
    assert.equal(client.peername.port, server.sockname.port);
    client.write("hello\n");
    assert.equal(text(yield* client.readUntil("\n")), "http/1.1:hello\n");
    // The handler returned: close_notify, then end of stream.
    assert.equal((yield* client.readBytes(10)).length, 0);
  },
);

tlsTest(
  "a TLSClient's readUntilRegex matches one RegExp again and again in what is buffered, its g and y flags ignored, then returns what is left at end of stream",
  function* () {
    using server = startServer(function* (connection) {
      connection.write("alpha\r\nbeta\n");
      // The rest only once the client found both lines in what it has.
      yield* connection.readUntil("\n");
      connection.write("gam");
      yield* connection.flush();
      yield* sleep(5);
      connection.write("ma");
    });
    using client = new TLSClient();
    yield* client.connect(
      { hostname: "127.0.0.1", port: server.sockname.port },
      { caCerts: [certs.caPem] },
    );
    const newline = /\r?\n/gy;
    assert.equal(text(yield* client.readUntilRegex(newline)), "alpha\r\n");
    assert.equal(text(yield* client.readUntilRegex(newline)), "beta\n");
    client.write("more\n");
    assert.equal(text(yield* client.readUntilRegex(newline)), "gamma");
    assert.equal((yield* client.readUntilRegex(newline)).length, 0);
    assert.equal(newline.lastIndex, 0, "the caller's RegExp is left alone");
  },
);

tlsTest(
  "16 MiB go through a TLSClient and a TLSServer intact, both ways",
  function* () {
    const size = 16 * MiB;
    const data = pattern(size, 7);
    using server = startServer(function* (connection) {
      const buffer = new Uint8Array(256 * 1024);
      let total = 0;
      while (total < size) {
        const count = yield* connection.readInto(buffer);
        if (count === 0) break;
        connection.write(buffer.subarray(0, count));
        total += count;
      }
      yield* connection.flush();
    });
    using client = new TLSClient();
    yield* client.connect(
      { hostname: "127.0.0.1", port: server.sockname.port },
      { caCerts: [certs.caPem] },
    );
    spawn(function* () {
      for (let offset = 0; offset < size; offset += MiB) {
        client.write(data.subarray(offset, offset + MiB));
        yield* client.flush();
      }
    });
    const echoed = yield* client.readBytes(size);
    assert.equal(echoed.length, size);
    assert.ok(
      echoed.every((byte, index) => byte === data[index]),
      "the echoed bytes differ from those sent",
    );
  },
);

tlsTest(
  "a TLSClient reads 16 MiB from openssl s_server -WWW intact",
  function* () {
    const size = 16 * MiB;
    const data = pattern(size, 11);
    Deno.writeFileSync(`${certs.directory}/big.bin`, data);
    const port = freePort();
    const peer = new Deno.Command("openssl", {
      args: [
        "s_server",
        "-quiet",
        "-accept",
        `127.0.0.1:${port}`,
        "-cert",
        certs.certPath,
        "-key",
        certs.keyPath,
        "-WWW",
      ],
      cwd: certs.directory,
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      using client = new TLSClient();
      for (let attempt = 0;; attempt++) {
        try {
          yield* client.connect({ hostname: "localhost", port }, {
            caCerts: [certs.caPem],
          });
          break;
        } catch (error) {
          if (attempt > 100 || (error as StreamError).code !== "ECONNREFUSED") {
            throw error;
          }
          yield* sleep(50);
        }
      }
      client.write("GET /big.bin HTTP/1.0\r\n\r\n");
      const head = text(yield* client.readUntil("\r\n\r\n"));
      assert.match(head, /^HTTP\/1\.0 200 ok/);
      const body = yield* client.readBytes(size + 1);
      assert.equal(body.length, size);
      assert.ok(
        body.every((byte, index) => byte === data[index]),
        "the body differs from the file",
      );
    } finally {
      peer.kill();
      yield* waitPromise(peer.status);
    }
  },
);

tlsTest(
  "openssl s_client talks to a TLSServer with verification, SNI and ALPN",
  function* () {
    let serverName = "";
    using server = startServer(function* (connection) {
      serverName = connection.alpnProtocol ?? "none";
      const line = yield* connection.readUntil("\n");
      connection.write(`pong:${text(line)}`);
    }, ["http/1.1"]);
    const peer = new Deno.Command("openssl", {
      args: [
        "s_client",
        "-quiet",
        "-connect",
        `127.0.0.1:${server.sockname.port}`,
        "-CAfile",
        certs.caPath,
        "-verify_return_error",
        "-servername",
        "localhost",
        "-verify_hostname",
        "localhost",
        "-alpn",
        "http/1.1",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = peer.stdin.getWriter();
    yield* waitPromise(writer.write(new TextEncoder().encode("ping\n")));
    const output = yield* waitPromise(peer.output());
    yield* waitPromise(writer.close().catch(() => {}));
    assert.equal(output.code, 0, text(output.stderr));
    assert.equal(text(output.stdout), "pong:ping\n");
    assert.equal(serverName, "http/1.1");
  },
);

tlsTest("curl --cacert fetches a 1 MiB body from a TLSServer", function* () {
  const body = pattern(MiB, 3);
  using server = startServer(function* (connection) {
    yield* connection.readUntil("\r\n\r\n");
    connection.write(
      `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    );
    connection.write(body);
    yield* connection.flush();
  }, ["http/1.1"]);
  const out = `${certs.directory}/curl.out`;
  for (const host of ["127.0.0.1", "localhost"]) {
    const output = yield* waitPromise(
      new Deno.Command("curl", {
        args: [
          "-sS",
          "--fail",
          "--cacert",
          certs.caPath,
          "-o",
          out,
          `https://${host}:${server.sockname.port}/`,
        ],
        stderr: "piped",
      }).output(),
    );
    assert.equal(output.code, 0, text(output.stderr));
    assert.deepEqual(Deno.readFileSync(out), body);
  }
});

tlsTest(
  "a certificate no trusted root signed fails with TLSError: certificate verify failed",
  function* () {
    using server = startServer(function* () {});
    using client = new TLSClient();
    // The system's roots, which do not include the test CA.
    const error = yield* expectTLSError(
      client.connect({ hostname: "localhost", port: server.sockname.port }),
    );
    assert.equal(error.code, "EPROTO");
    assert.equal(error.reason, "certificate verify failed");
    assert.match(error.message, /unable to get local issuer certificate/);
    assert.ok(client.closed, "a failed connect closes the client");
  },
);

tlsTest(
  "caCerts replace the system's roots: another CA fails verification",
  function* () {
    using server = startServer(function* () {});
    using client = new TLSClient();
    const error = yield* expectTLSError(
      client.connect({ hostname: "localhost", port: server.sockname.port }, {
        caCerts: [certs.otherCaPem],
      }),
    );
    assert.equal(error.reason, "certificate verify failed");
  },
);

tlsTest(
  "a wrong host name fails with TLSError: hostname mismatch",
  function* () {
    using server = startServer(function* () {});
    using client = new TLSClient();
    const error = yield* expectTLSError(
      client.connect({ hostname: "127.0.0.1", port: server.sockname.port }, {
        caCerts: [certs.caPem],
        serverName: "wrong.example",
      }),
    );
    assert.equal(error.code, "EPROTO");
    assert.match(error.message, /certificate verify failed: hostname mismatch/);
  },
);

tlsTest(
  "a server that closes mid-handshake fails the client with TLSError ECONNRESET",
  function* () {
    using server = new TCPServer({
      *handleConnection(connection) {
        yield* connection.readBytes(5); // the ClientHello's record header
        connection.close();
      },
    });
    server.bind({ hostname: "127.0.0.1", port: 0 });
    spawn(function* () {
      try {
        yield* server.serve();
      } catch {
        // closed at the end
      }
    });
    using client = new TLSClient();
    const error = yield* expectTLSError(
      client.connect({ hostname: "localhost", port: server.sockname.port }, {
        caCerts: [certs.caPem],
      }),
    );
    assert.equal(error.code, "ECONNRESET");
    assert.match(
      error.message,
      /closed the connection during the TLS handshake/,
    );
  },
);

tlsTest(
  "a client that closes mid-handshake is dropped and the server serves on",
  function* () {
    let handled = 0;
    using server = startServer(function* (connection) {
      handled++;
      connection.write("ok\n");
      yield* connection.flush();
    });
    const peer = yield* waitPromise(
      Deno.connect({ hostname: "127.0.0.1", port: server.sockname.port }),
    );
    yield* waitPromise(peer.write(new Uint8Array([22, 3, 1, 0, 200, 1, 0])));
    peer.close();
    using client = new TLSClient();
    yield* client.connect(
      { hostname: "localhost", port: server.sockname.port },
      {
        caCerts: [certs.caPem],
      },
    );
    assert.equal(text(yield* client.readUntil("\n")), "ok\n");
    assert.equal(handled, 1);
  },
);

tlsTest(
  "a client that never completes its handshake is dropped after handshakeTimeoutMs",
  function* () {
    let handled = 0;
    using server = new TLSServer({
      cert: certs.certPem,
      key: certs.keyPem,
      handshakeTimeoutMs: 100,
      *handleConnection(connection) {
        handled++;
        yield* connection.flush();
      },
    });
    server.bind({ hostname: "127.0.0.1", port: 0 });
    spawn(function* () {
      yield* server.serve();
    });
    const silent = yield* waitPromise(
      Deno.connect({ hostname: "127.0.0.1", port: server.sockname.port }),
    );
    const started = performance.now();
    // The server closes it: end of stream (or a reset), not a wait for ever.
    const read = yield* waitPromise(
      silent.read(new Uint8Array(16)).catch(() => null),
    );
    silent.close();
    assert.equal(read, null);
    assert.ok(performance.now() - started < 10_000, "dropped within the bound");
    assert.equal(server.connections.length, 0);
    assert.equal(handled, 0);
  },
);

Deno.test("a TLSServer refuses a key that does not match its certificate", () => {
  const other = makeCertificates();
  try {
    assert.throws(
      () => new TLSServer({ cert: certs.certPem, key: other.keyPem }),
      (error: unknown) =>
        error instanceof TLSError && error.code === "EINVAL" &&
        /does not match|mismatch/.test(error.message),
    );
  } finally {
    Deno.removeSync(other.directory, { recursive: true });
  }
});
