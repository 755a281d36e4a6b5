// UDPEndpoint on real sockets over 127.0.0.1 and ::1: evergreen 0.2.0's
// tests/test_io.py UDP case and libuv's test-udp-send-and-recv ported, then
// one test per rule of API.md's I/O section for UDP (implicit bind, send
// never waits, flush, cached sockname, close) and per fault of issue 6.
// Every behaviour runs under both run() and runSync().

import assert from "node:assert/strict";
import { EventLoop } from "../src/loop.ts";
import { sleep, spawn, type Task } from "../src/tasks.ts";
import { Event } from "../src/sync/event.ts";
import { Timeout } from "../src/sync/timeout.ts";
import { UDPEndpoint } from "../src/io/udp.ts";
import type { Address } from "../src/io/tcp.ts";
import { UDPError } from "../src/io/errors.ts";
import { startOp } from "./fixtures/loop_harness.ts";
import {
  bothModes as registerBothModes,
  detach,
  scenario,
  udpSocketDescriptors,
} from "./fixtures/stream_harness.ts";

const WATCHDOG_MS = 10_000;

/**
 * Registers one Deno test per loop mode, each running `main` as a task of a
 * fresh loop (stream_harness.ts's scenario: task errors fail the test, and
 * so does a watchdog).
 */
function bothModes(
  name: string,
  main: (loop: EventLoop) => Generator<unknown, void, unknown>,
  options: { ignore?: boolean } = {},
): void {
  registerBothModes(name, (mode) => scenario(mode, main, WATCHDOG_MS), options);
}

const text = (data: Uint8Array) => new TextDecoder().decode(data);
const bytes = (value: string) => new TextEncoder().encode(value);
const LOCAL4 = "127.0.0.1";
const LOCAL6 = "::1";

function hasIPv6(): boolean {
  const loop = new EventLoop();
  try {
    const probe = new UDPEndpoint();
    probe.bind({ hostname: LOCAL6, port: 0 });
    probe.close();
    return true;
  } catch {
    return false;
  } finally {
    loop.destroy();
  }
}
const noIPv6 = !hasIPv6();

/** Expects `thrown` to be a UDPError with `code`. */
function assertUDPError(thrown: unknown, code: string, pattern?: RegExp) {
  assert.ok(
    thrown instanceof UDPError,
    `expected a UDPError ${code}, got ${thrown}`,
  );
  assert.equal(thrown.code, code, thrown.message);
  assert.ok(thrown.errno > 0, "errno is a positive number");
  if (pattern) assert.match(thrown.message, pattern);
}

function* expectUDPError(
  operation: () => Generator<unknown, unknown, unknown>,
  code: string,
  pattern?: RegExp,
): Generator<unknown, void, unknown> {
  try {
    yield* operation();
  } catch (error) {
    assertUDPError(error, code, pattern);
    return;
  }
  assert.fail(`expected UDPError ${code}, nothing was thrown`);
}

function bound(hostname = LOCAL4, options = {}): UDPEndpoint {
  const endpoint = new UDPEndpoint(options);
  endpoint.bind({ hostname, port: 0 });
  return endpoint;
}

/** Receives with a deadline so that a lost datagram fails, not hangs. */
function* receiveWithin(
  endpoint: UDPEndpoint,
  ms = 2000,
): Generator<unknown, [Uint8Array, Address], unknown> {
  using _timeout = new Timeout(
    ms,
    new Error(`no datagram within ${ms} ms`),
  ).start();
  return yield* endpoint.receive();
}

// ---- ported: evergreen 0.2.0 tests/test_io.py ----

bothModes("evergreen test_udp_ping_pong", function* () {
  const server = new UDPEndpoint();
  server.bind({ hostname: "0.0.0.0", port: 0 });
  const port = server.sockname.port;
  let serverEnded = false;
  spawn(function* () {
    try {
      for (;;) {
        const [data, address] = yield* server.receive();
        server.send(data, address);
      }
    } catch (error) {
      assertUDPError(error, "EBADF");
      serverEnded = true;
    }
  });
  const client = new UDPEndpoint();
  client.send(bytes("PING"), { hostname: LOCAL4, port });
  const [data, address] = yield* receiveWithin(client);
  assert.equal(address.port, port);
  assert.equal(text(data), "PING");
  client.close();
  yield* expectUDPError(() => client.receive(), "EBADF");
  server.close();
  yield* sleep(0);
  assert.ok(serverEnded, "the server's blocked receive was woken by close");
});

// ---- ported: libuv test/test-udp-send-and-recv.c ----

bothModes("libuv udp_send_and_recv", function* () {
  const counts = { serverReceived: 0, clientReceived: 0 };
  const server = new UDPEndpoint();
  server.bind({ hostname: "0.0.0.0", port: 0 });
  const serverTask = spawn(function* () {
    const [data, address] = yield* server.receive();
    assert.equal(data.length, 4);
    assert.equal(text(data), "PING");
    counts.serverReceived++;
    server.send("PONG", address);
    yield* server.flush();
    server.close();
  });
  const client = new UDPEndpoint();
  client.send("PING", { hostname: LOCAL4, port: server.sockname.port });
  assert.equal(counts.serverReceived, 0);
  const [data, address] = yield* receiveWithin(client);
  assert.equal(text(data), "PONG");
  assert.equal(address.port, server.sockname.port);
  counts.clientReceived++;
  client.close();
  assert.ok(yield* serverTask.join(1000));
  assert.deepEqual(counts, { serverReceived: 1, clientReceived: 1 });
  assert.ok(server.closed && client.closed);
});

// ---- API.md: addresses, binding, sockname ----

bothModes("ping-pong over IPv6 ::1", function* () {
  const server = bound(LOCAL6);
  assert.equal(server.sockname.hostname, "::1");
  const client = bound(LOCAL6);
  client.send("hello6", server.sockname);
  const [data, from] = yield* receiveWithin(server);
  assert.equal(text(data), "hello6");
  assert.deepEqual(from, client.sockname);
  server.send("back", from);
  const [reply] = yield* receiveWithin(client);
  assert.equal(text(reply), "back");
  server.close();
  client.close();
}, { ignore: noIPv6 });

bothModes(
  "the first send binds an unbound endpoint on the destination's family",
  function* () {
    const receiver4 = bound(LOCAL4);
    const sender4 = new UDPEndpoint();
    assert.throws(() => sender4.sockname, (error) => {
      assertUDPError(error, "EINVAL", /not bound/);
      return true;
    });
    sender4.send("implicit", receiver4.sockname);
    assert.equal(sender4.sockname.hostname, "0.0.0.0");
    assert.ok(sender4.sockname.port > 0, "an ephemeral port");
    const [data, from] = yield* receiveWithin(receiver4);
    assert.equal(text(data), "implicit");
    assert.equal(from.port, sender4.sockname.port);
    // Once bound, the endpoint receives replies on that port.
    receiver4.send("reply", from);
    const [reply] = yield* receiveWithin(sender4);
    assert.equal(text(reply), "reply");
    for (const endpoint of [receiver4, sender4]) endpoint.close();

    if (noIPv6) return;
    const receiver6 = bound(LOCAL6);
    const sender6 = new UDPEndpoint();
    sender6.send("implicit6", receiver6.sockname);
    assert.equal(sender6.sockname.hostname, "::");
    const [data6, from6] = yield* receiveWithin(receiver6);
    assert.equal(text(data6), "implicit6");
    assert.equal(from6.port, sender6.sockname.port);
    receiver6.close();
    sender6.close();
  },
);

bothModes(
  "an IPv6 endpoint reaches IPv4 peers; an IPv4 one cannot reach IPv6",
  function* () {
    const receiver4 = bound(LOCAL4);
    const dual = new UDPEndpoint();
    dual.bind({ hostname: "::", port: 0 });
    dual.send("mapped", receiver4.sockname);
    const [data, from] = yield* receiveWithin(receiver4);
    assert.equal(text(data), "mapped");
    assert.equal(from.port, dual.sockname.port);
    receiver4.send("back", from);
    const [reply, replier] = yield* receiveWithin(dual);
    assert.equal(text(reply), "back");
    assert.equal(replier.hostname, "::ffff:127.0.0.1");
    assert.throws(
      () => receiver4.send("x", { hostname: LOCAL6, port: 9 }),
      (e) => {
        assertUDPError(e, "EAFNOSUPPORT", /the endpoint is bound to IPv4/);
        return true;
      },
    );
    receiver4.close();
    dual.close();
  },
  { ignore: noIPv6 },
);

bothModes(
  "sockname is computed once and stays readable after close",
  function* () {
    const endpoint = bound();
    const name = endpoint.sockname;
    assert.equal(name.hostname, LOCAL4);
    assert.deepEqual(Object.keys(name).sort(), ["hostname", "port"]);
    endpoint.close();
    assert.deepEqual(endpoint.sockname, name);
    yield* sleep(0);
  },
);

bothModes('"localhost" is 127.0.0.1, for bind and send', function* () {
  const receiver = new UDPEndpoint();
  receiver.bind({ hostname: "localhost", port: 0 });
  assert.equal(receiver.sockname.hostname, LOCAL4);
  const sender = new UDPEndpoint();
  sender.send("local", { hostname: "localhost", port: receiver.sockname.port });
  const [data] = yield* receiveWithin(receiver);
  assert.equal(text(data), "local");
  receiver.close();
  sender.close();
});

bothModes(
  "invalid addresses and ports are clear UDPErrors (EINVAL)",
  function* () {
    const endpoint = new UDPEndpoint();
    const cases: [Address, RegExp][] = [
      [{ hostname: LOCAL4, port: -1 }, /invalid port -1/],
      [{ hostname: LOCAL4, port: 70000 }, /invalid port 70000/],
      [{ hostname: LOCAL4, port: 1.5 }, /invalid port 1.5/],
      [
        { hostname: "not a name", port: 80 },
        /"not a name" is not an IP address/,
      ],
      [{ hostname: "", port: 80 }, /is not an IP address/],
      [{ hostname: "256.1.1.1", port: 80 }, /is not an IP address/],
    ];
    for (const [address, pattern] of cases) {
      assert.throws(() => endpoint.bind(address), (error) => {
        assertUDPError(error, "EINVAL", pattern);
        assert.match((error as Error).message, /^bind to /);
        return true;
      });
      assert.throws(() => endpoint.send("x", address), (error) => {
        assertUDPError(error, "EINVAL", pattern);
        return true;
      });
    }
    assert.throws(
      () => endpoint.bind(null as unknown as Address),
      TypeError,
    );
    assert.throws(
      () => endpoint.send("x", { hostname: 1, port: 1 } as unknown as Address),
      TypeError,
    );
    assert.throws(
      () =>
        endpoint.send(42 as unknown as string, { hostname: LOCAL4, port: 9 }),
      TypeError,
    );
    // Nothing above created a socket.
    assert.throws(() => endpoint.sockname, /not bound/);
    endpoint.close();
    yield* sleep(0);
  },
);

bothModes(
  "binding a port in use is EADDRINUSE; binding twice is EINVAL",
  function* () {
    const first = bound();
    const second = new UDPEndpoint();
    assert.throws(() => second.bind(first.sockname), (error) => {
      assertUDPError(
        error,
        "EADDRINUSE",
        new RegExp(`bind to 127\\.0\\.0\\.1:${first.sockname.port} failed`),
      );
      return true;
    });
    // A failed bind leaves the endpoint unbound and usable.
    second.bind({ hostname: LOCAL4, port: 0 });
    assert.throws(() => second.bind({ hostname: LOCAL4, port: 0 }), (error) => {
      assertUDPError(error, "EINVAL", /already bound/);
      return true;
    });
    // SO_REUSEADDR lets two endpoints share a port.
    const shared = new UDPEndpoint();
    shared.bind({ hostname: "0.0.0.0", port: 0 }, { reuseAddress: true });
    const sharing = new UDPEndpoint();
    sharing.bind(
      { hostname: "0.0.0.0", port: shared.sockname.port },
      { reuseAddress: true },
    );
    for (const endpoint of [first, second, shared, sharing]) endpoint.close();
    yield* sleep(0);
  },
);

bothModes("receive() on an unbound endpoint is EINVAL", function* () {
  const endpoint = new UDPEndpoint();
  yield* expectUDPError(() => endpoint.receive(), "EINVAL", /not bound/);
  endpoint.close();
});

Deno.test("options out of range are RangeErrors", () => {
  assert.throws(() => new UDPEndpoint({ receiveSize: 0 }), RangeError);
  assert.throws(() => new UDPEndpoint({ receiveSize: 70000 }), RangeError);
  assert.throws(() => new UDPEndpoint({ receiveBatch: 0 }), RangeError);
  assert.throws(() => new UDPEndpoint({ receiveBatch: 4096 }), RangeError);
  assert.throws(() => new UDPEndpoint({ maxQueuedBytes: 10 }), RangeError);
});

// ---- datagrams: boundaries, sizes, strings ----

bothModes(
  "a datagram whose buffer the caller transferred away does not break later receives",
  function* () {
    const receiver = bound();
    const sender = bound();
    for (const word of ["one", "two", "three"]) {
      sender.send(word, receiver.sockname);
    }
    const [first] = yield* receiver.receive();
    assert.equal(text(first), "one");
    // Small datagrams are views of a shared pool; moving it to a worker (or
    // structuredClone with transfer) detaches it under the receiver.
    detach(first);
    assert.equal(first.length, 0);
    const [second] = yield* receiver.receive();
    assert.equal(text(second), "two");
    detach(second);
    const [third] = yield* receiver.receive();
    assert.equal(text(third), "three");
    receiver.close();
    sender.close();
  },
);

bothModes("many datagrams keep their boundaries and order", function* () {
  // A small batch makes the receive ring wrap many times.
  const receiver = bound(LOCAL4, { receiveBatch: 4 });
  const sender = bound();
  const total = 2000;
  const sizeOf = (i: number) => (i * 37) % 1400;
  const received: Uint8Array[] = [];
  const reader = spawn(function* () {
    while (received.length < total) {
      const [data] = yield* receiver.receive();
      received.push(data);
    }
  });
  for (let i = 0; i < total; i++) {
    const datagram = new Uint8Array(sizeOf(i)).fill(i & 0xff);
    sender.send(datagram, receiver.sockname);
    // Let the reader keep up so that the kernel's buffer never overflows.
    if (i % 32 === 31) yield* sleep(0);
  }
  assert.ok(yield* reader.join(5000), "every datagram arrived");
  for (let i = 0; i < total; i++) {
    assert.equal(received[i].length, sizeOf(i), `size of datagram ${i}`);
    assert.ok(
      received[i].every((byte) => byte === (i & 0xff)),
      `bytes of datagram ${i}`,
    );
  }
  receiver.close();
  sender.close();
});

bothModes(
  "datagrams of every size up to 300 bytes arrive byte for byte and stay intact",
  function* () {
    // 1001-byte slots put most datagrams at unaligned ring offsets.
    for (const receiveSize of [65536, 1001]) {
      const receiver = bound(LOCAL4, { receiveSize, receiveBatch: 64 });
      const sender = bound();
      const pattern = (size: number) =>
        Uint8Array.from({ length: size }, (_, j) => (size * 7 + j * 13) & 0xff);
      const kept: Uint8Array[] = [];
      for (let size = 0; size <= 300; size++) {
        sender.send(pattern(size), receiver.sockname);
        if (size % 16 === 15) {
          for (const [data] of yield* receiveCount(receiver, 16)) {
            kept.push(data);
          }
        }
      }
      while (kept.length < 301) kept.push((yield* receiveWithin(receiver))[0]);
      // Checked only now: a later copy must not have touched an earlier one.
      kept.forEach((data, size) =>
        assert.deepEqual(data, pattern(size), `datagram of ${size} bytes`)
      );
      receiver.close();
      sender.close();
    }
  },
);

bothModes("an empty datagram is a datagram", function* () {
  const receiver = bound();
  const sender = bound();
  sender.send(new Uint8Array(0), receiver.sockname);
  sender.send("", receiver.sockname);
  const [first] = yield* receiveWithin(receiver);
  const [second] = yield* receiveWithin(receiver);
  assert.equal(first.length, 0);
  assert.equal(second.length, 0);
  receiver.close();
  sender.close();
});

bothModes("strings are sent as UTF-8", function* () {
  const receiver = bound();
  const sender = bound();
  sender.send("héllo, wörld ✓", receiver.sockname);
  const [data] = yield* receiveWithin(receiver);
  assert.equal(text(data), "héllo, wörld ✓");
  receiver.close();
  sender.close();
});

bothModes(
  "a datagram larger than receiveSize throws EMSGSIZE and is dropped",
  function* () {
    const receiver = bound(LOCAL4, { receiveSize: 16 });
    const sender = bound();
    sender.send(new Uint8Array(100).fill(7), receiver.sockname);
    sender.send("fits", receiver.sockname);
    yield* expectUDPError(
      () => receiveWithin(receiver),
      "EMSGSIZE",
      Deno.build.os === "linux"
        ? /a datagram of 100 bytes from 127\.0\.0\.1:\d+ did not fit the receive size of 16 bytes/
        : /did not fit the receive size of 16 bytes/,
    );
    const [data] = yield* receiveWithin(receiver);
    assert.equal(text(data), "fits", "the endpoint goes on after the drop");
    receiver.close();
    sender.close();
  },
);

bothModes(
  "a datagram of exactly receiveSize bytes is received whole",
  function* () {
    const receiver = bound(LOCAL4, { receiveSize: 64 });
    const sender = bound();
    sender.send(new Uint8Array(64).fill(1), receiver.sockname);
    const [data] = yield* receiveWithin(receiver);
    assert.equal(data.length, 64);
    receiver.close();
    sender.close();
  },
);

bothModes("sending more than 65527 bytes is EMSGSIZE at once", function* () {
  const sender = bound();
  assert.throws(
    () => sender.send(new Uint8Array(70_000), sender.sockname),
    (error) => {
      assertUDPError(error, "EMSGSIZE", /send of 70000 bytes to 127\.0\.0\.1:/);
      return true;
    },
  );
  assert.throws(
    () =>
      sender.sendMany([bytes("ok"), new Uint8Array(70_000)], sender.sockname),
    (error) => {
      assertUDPError(error, "EMSGSIZE", /datagram 1 has 70000 bytes/);
      return true;
    },
  );
  sender.close();
  yield* sleep(0);
});

bothModes("sendMany and receiveMany move batches in order", function* () {
  const receiver = bound(LOCAL4, { receiveBatch: 64 });
  const sender = bound();
  const total = 640;
  const got: string[] = [];
  const reader = spawn(function* () {
    while (got.length < total) {
      const batch = yield* receiver.receiveMany();
      assert.ok(batch.length >= 1 && batch.length <= 64);
      for (const [data, from] of batch) {
        assert.equal(from.port, sender.sockname.port);
        got.push(text(data));
      }
    }
  });
  for (let round = 0; round < total / 64; round++) {
    const batch = Array.from(
      { length: 64 },
      (_, i) =>
        i % 2 === 0 ? `d${round * 64 + i}` : bytes(`d${round * 64 + i}`),
    );
    sender.sendMany(batch, receiver.sockname);
    yield* sleep(0);
  }
  assert.ok(yield* reader.join(5000));
  assert.deepEqual(got, Array.from({ length: total }, (_, i) => `d${i}`));
  const few = bound();
  few.sendMany([], receiver.sockname);
  few.sendMany(["a", "b", "c"], receiver.sockname);
  const some = yield* receiver.receiveMany(2);
  assert.deepEqual(some.map(([data]) => text(data)), ["a", "b"]);
  const rest = yield* receiver.receiveMany(2);
  assert.deepEqual(rest.map(([data]) => text(data)), ["c"]);
  for (const endpoint of [receiver, sender, few]) endpoint.close();
});

// ---- faults: unreachable ports, close, kill, timeouts ----

bothModes(
  "sends to a port nobody listens on harm nothing (ICMP port unreachable)",
  function* () {
    const gone = bound();
    const deadPort = gone.sockname.port;
    gone.close();
    const receiver = bound();
    const endpoint = bound();
    for (let i = 0; i < 20; i++) {
      endpoint.send("into the void", { hostname: LOCAL4, port: deadPort });
      yield* sleep(0);
    }
    yield* endpoint.flush();
    // The endpoint still sends and receives.
    endpoint.send("still alive", receiver.sockname);
    const [data, from] = yield* receiveWithin(receiver);
    assert.equal(text(data), "still alive");
    receiver.send("and hears", from);
    const [reply] = yield* receiveWithin(endpoint);
    assert.equal(text(reply), "and hears");
    receiver.close();
    endpoint.close();
  },
);

bothModes("close wakes a task blocked in receive with EBADF", function* () {
  const endpoint = bound();
  const started = new Event();
  let woken: unknown = null;
  const blocked = spawn(function* () {
    started.set();
    try {
      yield* endpoint.receive();
    } catch (error) {
      woken = error;
    }
  });
  yield* started.wait();
  yield* sleep(5);
  endpoint.close();
  assert.ok(yield* blocked.join(1000), "the receiver was woken");
  assertUDPError(woken, "EBADF", /receive\(\) failed: EBADF/);
  assert.throws(
    () => endpoint.send("x", { hostname: LOCAL4, port: 9 }),
    (e) => {
      assertUDPError(e, "EBADF");
      return true;
    },
  );
  assert.throws(() => endpoint.bind({ hostname: LOCAL4, port: 0 }), (e) => {
    assertUDPError(e, "EBADF");
    return true;
  });
  yield* expectUDPError(() => endpoint.flush(), "EBADF");
  endpoint.close(); // idempotent
  assert.equal(EventLoop.current()._native.opsLive(), 0, "no native op left");
});

bothModes("every task blocked in receive is woken by close", function* () {
  const endpoint = bound();
  const codes: string[] = [];
  const tasks = [0, 1, 2].map(() =>
    spawn(function* () {
      try {
        yield* endpoint.receive();
      } catch (error) {
        codes.push((error as UDPError).code);
      }
    })
  );
  yield* sleep(5);
  endpoint.close();
  for (const task of tasks) assert.ok(yield* task.join(1000));
  assert.deepEqual(codes, ["EBADF", "EBADF", "EBADF"]);
});

bothModes("two receivers on one endpoint share the datagrams", function* () {
  const receiver = bound();
  const sender = bound();
  const got: string[] = [];
  const make = () =>
    spawn(function* () {
      const [data] = yield* receiver.receive();
      got.push(text(data));
    });
  const tasks = [make(), make()];
  yield* sleep(5);
  sender.send("one", receiver.sockname);
  yield* sleep(5);
  sender.send("two", receiver.sockname);
  for (const task of tasks) assert.ok(yield* task.join(2000));
  assert.deepEqual(got.sort(), ["one", "two"]);
  receiver.close();
  sender.close();
});

bothModes(
  "killing a task blocked in receive cancels its native op",
  function* () {
    const receiver = bound();
    const sender = bound();
    const native = EventLoop.current()._native;
    const blocked: Task = spawn(function* () {
      yield* receiver.receive();
      assert.fail("the killed receiver must not get a datagram");
    });
    yield* sleep(5);
    assert.equal(native.opsLive(), 1, "the receive op waits natively");
    blocked.kill();
    assert.ok(yield* blocked.join(1000));
    assert.equal(native.opsLive(), 0, "the kill canceled the op");
    // The endpoint is intact: the next receive gets the next datagram.
    sender.send("after the kill", receiver.sockname);
    const [data] = yield* receiveWithin(receiver);
    assert.equal(text(data), "after the kill");
    receiver.close();
    sender.close();
  },
);

bothModes("a Timeout in receive leaves the endpoint usable", function* () {
  const receiver = bound();
  const sender = bound();
  yield* expectTimeout(() => receiveWithin(receiver, 20));
  sender.send("later", receiver.sockname);
  const [data] = yield* receiveWithin(receiver);
  assert.equal(text(data), "later");
  receiver.close();
  sender.close();
});

function* expectTimeout(
  operation: () => Generator<unknown, unknown, unknown>,
): Generator<unknown, void, unknown> {
  try {
    yield* operation();
  } catch (error) {
    assert.match((error as Error).message, /no datagram within/);
    return;
  }
  assert.fail("expected the receive to time out");
}

// ---- a turn's sends leave together (sendmmsg, segmented runs) ----

/** Receives `count` datagrams (each within the deadline). */
function* receiveCount(
  endpoint: UDPEndpoint,
  count: number,
): Generator<unknown, [Uint8Array, Address][], unknown> {
  const got: [Uint8Array, Address][] = [];
  while (got.length < count) got.push(yield* receiveWithin(endpoint));
  return got;
}

bothModes(
  "a turn's sends leave together with boundaries, order and sender kept",
  function* () {
    const first = bound(LOCAL4, { receiveBatch: 256 });
    const second = bound(LOCAL4, { receiveBatch: 16 });
    const sender = bound();
    // Runs of one size (more than one segmented message holds), a shorter
    // one ending a run, empty ones, and another destination in between.
    const sizes = [
      0,
      ...Array(100).fill(64),
      63,
      ...Array(5).fill(1400),
      0,
      1,
      2,
    ];
    const expected: [number, number][][] = [[], []];
    sizes.forEach((size, i) => {
      const to = i % 20 === 19 ? 1 : 0;
      sender.send(
        new Uint8Array(size).fill(i & 0xff),
        (to === 0 ? first : second).sockname,
      );
      expected[to].push([size, i & 0xff]);
    });
    for (
      const [receiver, wanted] of [[first, expected[0]], [
        second,
        expected[1],
      ]] as const
    ) {
      const got = yield* receiveCount(receiver, wanted.length);
      got.forEach(([data, from], i) => {
        const [size, fill] = wanted[i];
        assert.equal(data.length, size, `size of datagram ${i}`);
        assert.ok(data.every((byte) => byte === fill), `bytes of ${i}`);
        assert.deepEqual(from, sender.sockname);
      });
    }
    for (const endpoint of [first, second, sender]) endpoint.close();
  },
);

bothModes(
  "datagrams of 65507 bytes arrive whole, first in a turn or later",
  function* () {
    const receiver = bound();
    receiver.setReceiveBufferSize(1 << 20);
    const sender = bound();
    const big = (fill: number) => new Uint8Array(65507).fill(fill);
    sender.send(big(1), receiver.sockname);
    sender.send(big(2), receiver.sockname);
    const got = yield* receiveCount(receiver, 2);
    assert.deepEqual(got.map(([data]) => [data.length, data[0], data.at(-1)]), [
      [65507, 1, 1],
      [65507, 2, 2],
    ]);
    receiver.close();
    sender.close();
  },
);

bothModes(
  "datagrams of 65527 bytes over IPv6 arrive whole, first in a turn or later",
  function* () {
    const receiver = bound(LOCAL6);
    receiver.setReceiveBufferSize(1 << 20);
    const sender = bound(LOCAL6);
    sender.send(new Uint8Array(65527).fill(1), receiver.sockname);
    sender.send(new Uint8Array(65527).fill(2), receiver.sockname);
    const got = yield* receiveCount(receiver, 2);
    assert.deepEqual(got.map(([data]) => [data.length, data[0]]), [
      [65527, 1],
      [65527, 2],
    ]);
    receiver.close();
    sender.close();
  },
  { ignore: noIPv6 },
);

bothModes(
  "more than 65507 bytes to an IPv4 address is EMSGSIZE at once, first in a turn or later",
  function* () {
    const receiver = bound();
    const sender = bound();
    const tooBig = new Uint8Array(65508);
    const expectTooBig = () =>
      assert.throws(() => sender.send(tooBig, receiver.sockname), (error) => {
        assertUDPError(
          error,
          "EMSGSIZE",
          /send of 65508 bytes to 127\.0\.0\.1:/,
        );
        return true;
      });
    expectTooBig(); // the turn's first send: the kernel refuses it
    sender.send("fits", receiver.sockname);
    expectTooBig(); // a later one: refused before it is queued
    sender.send("still fits", receiver.sockname);
    yield* sender.flush();
    const got = yield* receiveCount(receiver, 2);
    assert.deepEqual(got.map(([data]) => text(data)), ["fits", "still fits"]);
    receiver.close();
    sender.close();
  },
);

bothModes(
  "datagrams of a turn larger than receiveSize are dropped with EMSGSIZE; the rest arrive",
  function* () {
    const receiver = bound(LOCAL4, { receiveSize: 64 });
    const sender = bound();
    for (let i = 0; i < 3; i++) {
      sender.send(new Uint8Array(100).fill(i), receiver.sockname);
    }
    sender.send("fits", receiver.sockname);
    for (let i = 0; i < 3; i++) {
      yield* expectUDPError(
        () => receiveWithin(receiver),
        "EMSGSIZE",
        Deno.build.os === "linux"
          ? /a datagram of 100 bytes from 127\.0\.0\.1:\d+ did not fit the receive size of 64 bytes/
          : /did not fit the receive size of 64 bytes/,
      );
    }
    const [data] = yield* receiveWithin(receiver);
    assert.equal(text(data), "fits");
    receiver.close();
    sender.close();
  },
);

bothModes(
  "an endpoint receives while another task sends from it",
  function* () {
    const echo = bound();
    const endpoint = bound();
    spawn(function* () {
      try {
        for (;;) {
          const [data, from] = yield* echo.receive();
          echo.send(data, from);
        }
      } catch (error) {
        assertUDPError(error, "EBADF");
      }
    });
    const total = 600;
    const got: number[] = [];
    const reader = spawn(function* () {
      while (got.length < total) {
        const [data] = yield* endpoint.receive();
        got.push(new DataView(data.buffer, data.byteOffset).getUint32(0));
      }
    });
    for (let i = 0; i < total; i++) {
      const datagram = new Uint8Array(4);
      new DataView(datagram.buffer).setUint32(0, i);
      endpoint.send(datagram, echo.sockname);
      if (i % 50 === 49) yield* sleep(0);
    }
    assert.ok(yield* reader.join(5000), "every echo arrived");
    assert.deepEqual(got, Array.from({ length: total }, (_, i) => i));
    echo.close();
    endpoint.close();
  },
);

bothModes(
  "a later send of a turn that the kernel refuses is reported by flush()",
  function* () {
    const receiver = bound();
    const sender = bound("0.0.0.0");
    const port = receiver.sockname.port;
    sender.send("ok1", { hostname: LOCAL4, port });
    // Broadcast without setBroadcast(true), queued behind the turn's first.
    sender.send("bad", { hostname: "255.255.255.255", port });
    sender.send("ok2", { hostname: LOCAL4, port });
    yield* expectUDPError(
      () => sender.flush(),
      "EACCES",
      /sending (\d+ )?queued datagram\(s\) from 0\.0\.0\.0:\d+ failed: EACCES/,
    );
    yield* sender.flush(); // reported once
    const got = yield* receiveCount(receiver, 2);
    assert.deepEqual(got.map(([data]) => text(data)), ["ok1", "ok2"]);
    receiver.close();
    sender.close();
  },
);

bothModes("close() sends what a turn queued", function* () {
  const receiver = bound();
  const sender = bound();
  for (let i = 0; i < 5; i++) sender.send(`d${i}`, receiver.sockname);
  sender.close();
  const got = yield* receiveCount(receiver, 5);
  assert.deepEqual(got.map(([data]) => text(data)), [
    "d0",
    "d1",
    "d2",
    "d3",
    "d4",
  ]);
  receiver.close();
});

Deno.test(
  "a send after run() stopped mid-turn goes out at once, behind what the turn queued",
  async () => {
    const loop = new EventLoop();
    const receiver = bound();
    const sender = bound();
    spawn(() => {
      sender.send("a", receiver.sockname);
      sender.send("b", receiver.sockname); // queued for the turn's end
      loop.stop(); // the turn's end never comes
    });
    await loop.run();
    sender.send("c", receiver.sockname);
    const got: string[] = [];
    while (got.length < 3) {
      let datagrams: [Uint8Array, Address][];
      try {
        const step = startOp(receiver.receiveMany());
        assert.ok(step.done);
        datagrams = step.value;
      } catch {
        break; // nothing there: receiving would block, outside a task
      }
      for (const [data] of datagrams) got.push(text(data));
    }
    assert.deepEqual(got, ["a", "b", "c"]);
    receiver.close();
    sender.close();
    loop.destroy();
  },
);

Deno.test("sends outside a running loop go out at once", () => {
  const loop = new EventLoop();
  const receiver = bound();
  const sender = bound();
  for (let i = 0; i < 3; i++) sender.send(`now${i}`, receiver.sockname);
  assert.equal(sender.queued, 0);
  const got: string[] = [];
  while (got.length < 3) {
    const step = startOp(receiver.receiveMany());
    assert.ok(step.done, "the datagrams are there without a loop turn");
    for (const [data] of step.value) got.push(text(data));
  }
  assert.deepEqual(got, ["now0", "now1", "now2"]);
  receiver.close();
  sender.close();
  loop.destroy();
});

// ---- flush and the native send queue ----

bothModes("flush returns at once when nothing is queued", function* () {
  const sender = new UDPEndpoint();
  yield* sender.flush(); // never bound: nothing to do
  const receiver = bound();
  sender.send("now", receiver.sockname);
  yield* sender.flush();
  const [data] = yield* receiveWithin(receiver);
  assert.equal(text(data), "now");
  receiver.close();
  sender.close();
});

bothModes("flush waits until queued datagrams are out, in order", function* () {
  // Loopback never pushes back, so the test queues datagrams the way a
  // full kernel buffer would; the native op then drains them for real.
  const receiver = bound(LOCAL4, { receiveBatch: 128 });
  const sender = bound();
  for (let i = 0; i < 50; i++) {
    sender._testEnqueue(bytes(`q${i}`), receiver.sockname);
  }
  // A send behind queued datagrams queues too, keeping the order.
  sender.send("last", receiver.sockname);
  yield* sender.flush();
  const got: string[] = [];
  while (got.length < 51) {
    for (const [data] of yield* receiver.receiveMany()) got.push(text(data));
  }
  assert.deepEqual(got, [
    ...Array.from({ length: 50 }, (_, i) => `q${i}`),
    "last",
  ]);
  receiver.close();
  sender.close();
});

bothModes(
  "flush reports a queued datagram that failed, once; the others go",
  function* () {
    const receiver = bound();
    const sender = bound("0.0.0.0");
    const port = receiver.sockname.port;
    sender._testEnqueue(bytes("ok1"), { hostname: LOCAL4, port });
    // Refused when the queue is drained: broadcast without setBroadcast(true).
    sender._testEnqueue(bytes("bad"), { hostname: "255.255.255.255", port });
    sender._testEnqueue(bytes("ok2"), { hostname: LOCAL4, port });
    yield* expectUDPError(
      () => sender.flush(),
      "EACCES",
      /sending 1 queued datagram\(s\) from 0\.0\.0\.0:\d+ failed: EACCES/,
    );
    yield* sender.flush(); // reported once
    const [first] = yield* receiveWithin(receiver);
    const [second] = yield* receiveWithin(receiver);
    assert.deepEqual([text(first), text(second)], ["ok1", "ok2"]);
    receiver.close();
    sender.close();
  },
);

bothModes(
  "close while a task waits in flush wakes it with EBADF",
  function* () {
    const receiver = bound();
    const sender = bound();
    for (let i = 0; i < 5; i++) {
      sender._testEnqueue(
        bytes("x"),
        receiver.sockname,
      );
    }
    let woken: unknown = null;
    const flusher = spawn(function* () {
      try {
        yield* sender.flush();
      } catch (error) {
        woken = error;
      }
    });
    sender.close();
    assert.ok(yield* flusher.join(1000));
    // Either the queue drained before the close (flush returned) or EBADF.
    if (woken !== null) assertUDPError(woken, "EBADF");
    receiver.close();
  },
);

// ---- broadcast and multicast ----

bothModes("broadcast needs setBroadcast(true)", function* () {
  const endpoint = bound("0.0.0.0");
  const target = { hostname: "255.255.255.255", port: endpoint.sockname.port };
  endpoint.send("all", target); // queued for the turn's end
  yield* expectUDPError(
    () => endpoint.flush(),
    "EACCES",
    /sending queued datagram\(s\) from 0\.0\.0\.0:\d+ failed: EACCES \(sending to a broadcast address needs setBroadcast\(true\)\)/,
  );
  assert.throws(() => endpoint.sendMany(["a", "b"], target), (error) => {
    assertUDPError(error, "EACCES", /sendMany\(\) to 255\.255\.255\.255:/);
    return true;
  });
  endpoint.setBroadcast(true);
  try {
    endpoint.send("all", target);
  } catch (error) {
    // Permitted now; a host without a broadcast route says so instead.
    assertUDPError(error, "ENETUNREACH");
  }
  endpoint.close();
  yield* sleep(0);
});

Deno.test("outside the loop, a send the kernel refuses throws at once", () => {
  const loop = new EventLoop();
  const endpoint = bound("0.0.0.0");
  const target = { hostname: "255.255.255.255", port: endpoint.sockname.port };
  assert.throws(() => endpoint.send("all", target), (error) => {
    assertUDPError(error, "EACCES", /send of 3 bytes to 255\.255\.255\.255:/);
    return true;
  });
  assert.equal(endpoint.queued, 0);
  endpoint.close();
  loop.destroy();
});

/** Whether multicast over loopback works here; a reason when it does not. */
function* multicastBlocker(): Generator<unknown, string | null, unknown> {
  const probe = new UDPEndpoint();
  try {
    probe.bind({ hostname: "0.0.0.0", port: 0 }, { reuseAddress: true });
    probe.joinMulticast("239.255.42.99", LOCAL4);
    const sender = new UDPEndpoint();
    sender.setMulticastInterface(LOCAL4);
    sender.setMulticastLoopback(true);
    sender.send("probe", {
      hostname: "239.255.42.99",
      port: probe.sockname.port,
    });
    sender.close();
    yield* receiveWithin(probe, 500);
    return null;
  } catch (error) {
    return `multicast over loopback unavailable here: ${
      (error as Error).message
    }`;
  } finally {
    probe.close();
  }
}

bothModes("multicast join, receive and leave on loopback", function* () {
  const blocker = yield* multicastBlocker();
  if (blocker !== null) {
    console.log(`skipped: ${blocker}`);
    return;
  }
  const group = "239.255.42.1";
  const member = new UDPEndpoint();
  member.bind({ hostname: "0.0.0.0", port: 0 }, { reuseAddress: true });
  member.joinMulticast(group, LOCAL4);
  const sender = new UDPEndpoint();
  sender.setMulticastInterface(LOCAL4);
  sender.setMulticastTTL(1);
  sender.setMulticastLoopback(true);
  const target = { hostname: group, port: member.sockname.port };
  sender.send("to the group", target);
  const [data, from] = yield* receiveWithin(member);
  assert.equal(text(data), "to the group");
  assert.equal(from.port, sender.sockname.port);
  member.leaveMulticast(group, LOCAL4);
  sender.send("after leaving", target);
  yield* expectTimeout(() => receiveWithin(member, 100));
  assert.throws(() => member.joinMulticast(LOCAL4), (error) => {
    assertUDPError(error, "EINVAL");
    return true;
  });
  const unbound = new UDPEndpoint();
  assert.throws(
    () => unbound.joinMulticast(group),
    /bind\(\) the endpoint first/,
  );
  for (const endpoint of [member, sender, unbound]) endpoint.close();
});

// ---- resources ----

bothModes(
  "descriptor count is flat after 1000 endpoint open/close cycles",
  function* () {
    const target = bound();
    // Warm up once so that lazily opened descriptors are counted before.
    const warm = bound();
    warm.send("w", target.sockname);
    warm.close();
    const before = udpSocketDescriptors();
    for (let i = 0; i < 1000; i++) {
      using endpoint = new UDPEndpoint({ receiveSize: 2048 });
      endpoint.bind({ hostname: LOCAL4, port: 0 });
      endpoint.send("cycle", target.sockname);
      if (i % 100 === 0) yield* expectTimeout(() => receiveWithin(endpoint, 1));
    }
    assert.equal(udpSocketDescriptors(), before, "no UDP socket leaked");
    assert.equal(EventLoop.current()._native.opsLive(), 0);
    target.close();
  },
  { ignore: Deno.build.os !== "linux" },
);

// Endpoints left without close(): fixtures/udp_leak_scenarios.ts runs in a
// child Deno with --expose-gc, forces collections and counts descriptors.
const leakResults: Promise<Record<string, string[]>> | null =
  Deno.build.os !== "linux" ? null : (async () => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--v8-flags=--expose-gc",
        new URL("./fixtures/udp_leak_scenarios.ts", import.meta.url).href,
      ],
      // Deno's update check opens sockets of its own at unknown times.
      env: { DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, `udp_leak_scenarios.ts failed:\n${stderr}`);
    const stdout = new TextDecoder().decode(output.stdout);
    return JSON.parse(stdout.trim().split("\n").at(-1)!);
  })();

function leakScenario(name: string, description: string): void {
  Deno.test({
    name: description,
    ignore: leakResults === null,
    async fn() {
      const failures = (await leakResults!)[name];
      assert.ok(failures !== undefined, `scenario ${name} did not run`);
      assert.deepEqual(failures, []);
    },
  });
}

leakScenario(
  "droppedEndpointsGiveTheirSocketsBackWhenCollected",
  "endpoints dropped without close() give their sockets back when collected",
);
leakScenario(
  "destroyingTheLoopClosesTheSocketsOfItsEndpoints",
  "loop.destroy() closes the sockets of its endpoints; later use is EBADF, close() still works",
);
leakScenario(
  "endpointsOfADestroyedLoopDroppedLaterAreCollectedQuietly",
  "endpoints of a destroyed loop, collected later, disturb no other endpoint",
);

bothModes(
  "run() ends when endpoints are idle; a pending receive keeps it going",
  function* (loop) {
    const receiver = bound();
    const sender = bound();
    // A bound endpoint with nothing pending does not keep the loop alive:
    // this task ends, and the loop with it, once the receive below is done.
    loop.callLater(20, () => sender.send("wake", receiver.sockname));
    const [data] = yield* receiver.receive();
    assert.equal(text(data), "wake");
    receiver.close();
    sender.close();
  },
);

Deno.test("the loop ends with an open, idle endpoint", async () => {
  const loop = new EventLoop();
  const endpoint = new UDPEndpoint();
  endpoint.bind({ hostname: LOCAL4, port: 0 });
  await loop.run();
  endpoint.close();
  loop.destroy();
});
