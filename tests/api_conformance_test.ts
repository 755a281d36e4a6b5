// API conformance: behaviour the API contract (API.md) states that the shipped
// code did not do, written against mod.ts exactly as API.md names things.
// Each test failed before its fix.

import assert from "node:assert/strict";
import {
  type Address,
  Event,
  EventLoop,
  Future,
  sleep,
  spawn,
  TCPClient,
  TCPServer,
  TLSClient,
  TLSServer,
  UDPEndpoint,
  UDPError,
} from "../mod.ts";
import { makeCertificates } from "./fixtures/tls_certs.ts";
import { MODES, scenario } from "./fixtures/stream_harness.ts";

let certs: ReturnType<typeof makeCertificates> | null = null;
function certificates(): ReturnType<typeof makeCertificates> {
  return certs ??= makeCertificates();
}
globalThis.addEventListener("unload", () => {
  if (certs !== null) Deno.removeSync(certs.directory, { recursive: true });
});

function* rangeErrorOf(
  operation: () => Generator<unknown, unknown, unknown>,
): Generator<unknown, unknown, unknown> {
  try {
    const value = yield* operation();
    return `returned ${String(value)}`;
  } catch (error) {
    return error instanceof RangeError ? "RangeError" : error;
  }
}

// "Negative or NaN throw RangeError": also when the wait would not block
// (a set Event, a done Future, an ended Task).
for (const mode of MODES) {
  Deno.test(
    `a negative or NaN timeout throws RangeError even when nothing waits [${mode}]`,
    () =>
      scenario(mode, function* () {
        const event = new Event();
        event.set();
        const future = new Future<number>();
        future.setResult(1);
        const task = spawn(() => 1);
        yield* task.join();
        for (const bad of [-1, NaN]) {
          assert.equal(
            yield* rangeErrorOf(() => event.wait(bad)),
            "RangeError",
          );
          assert.equal(
            yield* rangeErrorOf(() => future.get(bad)),
            "RangeError",
          );
          assert.equal(yield* rangeErrorOf(() => task.join(bad)), "RangeError");
        }
        // Valid timeouts still answer at once.
        assert.equal(yield* event.wait(0), true);
        assert.equal(yield* future.get(0), 1);
        assert.equal(yield* task.join(Infinity), true);
      }, 10_000),
  );
}

// "Server constructors take a lingerMs option (default 30000) that bounds
// that wait": TLSServer is one of them.
Deno.test("TLSServer takes lingerMs: a peer that stopped reading cannot hold its connection", () => {
  const { certPem, keyPem, caPem } = certificates();
  assert.throws(
    () => new TLSServer({ cert: certPem, key: keyPem, lingerMs: -1 }),
    RangeError,
  );
  return scenario("run", function* () {
    using server = new TLSServer({
      cert: certPem,
      key: keyPem,
      lingerMs: 200,
      handleConnection(connection) {
        // Far more than the socket buffers hold: the client never reads.
        connection.write(new Uint8Array(32 << 20));
      },
    });
    server.bind({ hostname: "127.0.0.1", port: 0 });
    spawn(function* () {
      yield* server.serve();
    });
    using client = new TLSClient();
    yield* client.connect(
      { hostname: "localhost", port: server.sockname.port },
      {
        caCerts: [caPem],
      },
    );
    yield* sleep(50);
    assert.equal(server.connections.length, 1, "still delivering");
    for (let waited = 0; server.connections.length > 0 && waited < 5_000;) {
      yield* sleep(20);
      waited += 20;
    }
    assert.equal(server.connections.length, 0, "closed once lingerMs passed");
  }, 20_000);
});

// "Bytes returned by reads and receive() are typed Uint8Array<ArrayBuffer>
// (usable with new Response(bytes), new Blob([bytes]) under deno check)".
// Type-checked by `deno test`: this file did not compile before the fix.
for (const mode of MODES) {
  Deno.test(`UDPEndpoint.receive() bytes are Uint8Array<ArrayBuffer> [${mode}]`, () =>
    scenario(mode, function* () {
      using server = new UDPEndpoint();
      server.bind({ hostname: "127.0.0.1", port: 0 });
      using client = new UDPEndpoint();
      client.send("typed", server.sockname);
      const [bytes, from]: [Uint8Array<ArrayBuffer>, Address] = yield* server
        .receive();
      assert.ok(bytes.buffer instanceof ArrayBuffer);
      assert.equal(new Blob([bytes]).size, 5);
      assert.equal(from.port, client.sockname.port);
    }, 10_000));
}

// "flush(): until sends are out": a datagram sent to a host name whose
// lookup is still running is not out; flush() waits for it and reports
// the lookup's failure, instead of returning at once.
for (const mode of MODES) {
  Deno.test(
    `UDPEndpoint.flush() waits for sends to a name being resolved [${mode}]`,
    () =>
      scenario(mode, function* () {
        // Names are cached for the process: a fresh one per run.
        const hostname = `conformance-${crypto.randomUUID()}.invalid`;
        using endpoint = new UDPEndpoint();
        endpoint.send("lost", { hostname, port: 9 });
        let failure: unknown = null;
        try {
          yield* endpoint.flush();
        } catch (error) {
          failure = error;
        }
        assert.ok(
          failure instanceof UDPError,
          `expected flush() to throw a UDPError, got ${failure}`,
        );
        assert.equal(failure.code, "ENOTFOUND");
        // Reported once.
        yield* endpoint.flush();
      }, 15_000),
  );
}

Deno.test("stream reads are typed Uint8Array<ArrayBuffer>, as API.md's Uint8Array is", () => {
  // Checked by `deno check`: a read's bytes go where an ArrayBuffer-backed
  // array is required (a Response body, crypto.subtle).
  function* typed(stream: TCPClient): Generator<unknown, BodyInit, unknown> {
    const bytes: Uint8Array<ArrayBuffer> = yield* stream.readBytes(4);
    const line: Uint8Array<ArrayBuffer> = yield* stream.readUntil("\n");
    const match: Uint8Array<ArrayBuffer> = yield* stream.readUntilRegex(/x/);
    return bytes.length > 0 ? bytes : line.length > 0 ? line : match;
  }
  assert.equal(typeof typed, "function");
});

Deno.test("peername stays readable after a reset closed the stream, on both sides (API.md: readable after close)", async () => {
  using loop = new EventLoop();
  const seen: Record<string, unknown> = {};
  const server = new TCPServer({
    *handleConnection(conn) {
      if (seen.first === undefined) {
        // The client closes without reading what it was sent: a reset.
        seen.first = true;
        conn.write("unread");
        try {
          for (;;) if ((yield* conn.readBytes(16)).length === 0) break;
        } catch (error) {
          seen.serverError = (error as Error).message;
        }
        seen.serverPeer = conn.peername;
      } else {
        // Closes with the client's bytes unread: the client gets a reset.
        yield* sleep(20);
        conn.close();
      }
    },
  });
  server.bind({ hostname: "127.0.0.1", port: 0 });
  spawn(function* () {
    try {
      yield* server.serve();
    } catch { /* closed */ }
  });
  spawn(function* () {
    const first = new TCPClient();
    yield* first.connect(server.sockname);
    first.write("x");
    yield* sleep(10);
    first.close();
    const second = new TCPClient();
    yield* second.connect(server.sockname);
    const port = second.sockname.port;
    second.write("unread by the server");
    try {
      for (;;) if ((yield* second.readBytes(16)).length === 0) break;
    } catch (error) {
      seen.clientError = (error as Error).message;
    }
    seen.clientPeer = second.peername;
    seen.clientPort = port;
    yield* sleep(10);
    server.close();
  });
  await loop.run();
  assert.match(String(seen.serverError), /ECONNRESET/);
  assert.deepEqual(
    (seen.serverPeer as Address).hostname,
    "127.0.0.1",
  );
  assert.match(String(seen.clientError), /ECONNRESET/);
  assert.deepEqual(seen.clientPeer, server.sockname);
});
