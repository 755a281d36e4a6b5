// Faults a review of name lookup, UDP and TLS found, one test
// each: lookups that outlive their loop, many lookups at once, and a TLS
// serverName that would have switched host-name verification off. Real
// sockets and lookups on 127.0.0.1, bounded by Timeouts.

import assert from "node:assert/strict";
import { EventLoop } from "../src/loop.ts";
import { spawn } from "../src/tasks.ts";
import { Timeout } from "../src/sync/timeout.ts";
import { lookup } from "../src/io/lookup.ts";
import { UDPEndpoint } from "../src/io/udp.ts";
import { TLSClient, TLSServer } from "../src/io/tls.ts";
import { TCPError, TLSError } from "../src/io/errors.ts";
import { TCPClient, TCPServer } from "../src/io/tcp.ts";
import { testSymbols } from "../src/native/test_support.ts";
import { makeCertificates } from "./fixtures/tls_certs.ts";
import { scenario } from "./fixtures/stream_harness.ts";
import { eventually } from "./fixtures/loop_harness.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function descriptorCount(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

Deno.test("a send to a host name whose lookup outlived its loop reaches the name from the next loop", async () => {
  // A spelling of localhost no other test resolved (names are cached per
  // process), so that the first send starts a lookup.
  const hostname = "LocalHost";
  {
    const loop = new EventLoop();
    const endpoint = new UDPEndpoint();
    endpoint.bind({ hostname: "127.0.0.1", port: 0 });
    spawn(() => {
      endpoint.send("lost with its loop", { hostname, port: 9 });
      loop.stop();
    });
    await loop.run();
    loop.destroy();
  }
  const loop = new EventLoop();
  let received = "";
  spawn(function* () {
    using server = new UDPEndpoint();
    server.bind({ hostname: "127.0.0.1", port: 0 });
    using client = new UDPEndpoint();
    client.send("second", { hostname, port: server.sockname.port });
    using _timeout = Timeout.after(3_000);
    received = text((yield* server.receive())[0]);
  });
  await loop.run();
  loop.destroy();
  assert.equal(received, "second", "the datagram reached the name");
});

Deno.test({
  name:
    "lookup() whose loop was destroyed mid-lookup gives its descriptor back",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const before = descriptorCount();
    const loop = new EventLoop();
    spawn(function* () {
      yield* lookup("localhost");
    });
    spawn(() => loop.stop());
    await loop.run();
    loop.destroy();
    assert.ok(
      await eventually(() => descriptorCount() <= before),
      `descriptors ${before} -> ${descriptorCount()}: the lookup's stayed open`,
    );
  },
});

Deno.test("200 lookups at once all answer: past the process's 64, they wait for a slot", () =>
  scenario("run", function* () {
    let answered = 0;
    const failures: string[] = [];
    const tasks = Array.from({ length: 200 }, () =>
      spawn(function* () {
        try {
          yield* lookup("localhost", { family: 4 });
          answered++;
        } catch (error) {
          failures.push(String(error));
        }
      }));
    using _timeout = Timeout.after(20_000);
    for (const task of tasks) yield* task.join();
    assert.deepEqual(failures.slice(0, 3), [], "no lookup failed");
    assert.equal(answered, 200);
  }, 30_000));

Deno.test("TLSClient.connect refuses an empty serverName rather than verify no host name", async () => {
  const certs = makeCertificates();
  try {
    await scenario("run", function* () {
      using server = new TLSServer({
        cert: certs.certPem,
        key: certs.keyPem,
        *handleConnection() {},
      });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(function* () {
        yield* server.serve();
      });
      using client = new TLSClient();
      using _timeout = Timeout.after(5_000);
      let error: unknown = null;
      try {
        yield* client.connect(server.sockname, {
          caCerts: [certs.caPem],
          serverName: "",
        });
      } catch (thrown) {
        error = thrown;
      }
      assert.ok(
        error instanceof TLSError && error.code === "EINVAL",
        `expected TLSError EINVAL, got ${error ?? "a verified connection"}`,
      );
    }, 30_000);
  } finally {
    Deno.removeSync(certs.directory, { recursive: true });
  }
});

Deno.test("200 connects by host name at once, with 60 of the process's 64 lookups taken, all connect: past 64 they wait for a slot", async () => {
  // 60 slots held (as lookups of other loops would), so that 200 connects
  // by name, each of which resolves "localhost" on a lookup of its own,
  // need 50 rounds of the 4 left: before, most failed with a bare EAGAIN.
  const hold = testSymbols().eg_test_lookup_slots_hold;
  assert.ok(hold(60) >= 60);
  try {
    await scenario("run", function* () {
      using server = new TCPServer({ *handleConnection() {} });
      server.bind({ hostname: "127.0.0.1", port: 0 });
      spawn(function* () {
        yield* server.serve();
      });
      const port = server.sockname.port;
      let connected = 0;
      const failures: string[] = [];
      const tasks = Array.from({ length: 200 }, () =>
        spawn(function* () {
          using client = new TCPClient();
          try {
            yield* client.connect({ hostname: "localhost", port });
            connected++;
          } catch (error) {
            failures.push(String(error));
          }
        }));
      using _timeout = Timeout.after(20_000);
      for (const task of tasks) yield* task.join();
      assert.deepEqual(failures.slice(0, 3), [], "no connect failed");
      assert.equal(connected, 200);
    }, 30_000);
  } finally {
    hold(-60);
  }
});

Deno.test("a connect by host name with every lookup slot taken by others fails with a clear EAGAIN at once", () =>
  scenario("run", function* () {
    const hold = testSymbols().eg_test_lookup_slots_hold;
    const held = 64 - hold(0);
    hold(held);
    try {
      using client = new TCPClient();
      let error: unknown = null;
      try {
        yield* client.connect({ hostname: "localhost", port: 9 });
      } catch (thrown) {
        error = thrown;
      }
      assert.ok(
        error instanceof TCPError && error.code === "EAGAIN" &&
          /none of them this loop's/.test(error.message),
        `expected TCPError EAGAIN naming the full lookups, got ${error}`,
      );
    } finally {
      hold(-held);
    }
  }, 10_000));
