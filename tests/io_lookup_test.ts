// lookup() and host names in UDPEndpoint (issue 13, point 1): real lookups
// through the OS resolver on a native thread, waited for on the loop, under
// run() and runSync(). "LOCALHOST" is a name the resolver answers from the
// hosts file yet that no shortcut takes for "localhost".

import assert from "node:assert/strict";
import type { EventLoop } from "../src/loop.ts";
import { sleep, spawn, TaskExit } from "../src/tasks.ts";
import { Timeout } from "../src/sync/timeout.ts";
import { lookup } from "../src/io/lookup.ts";
import { UDPEndpoint } from "../src/io/udp.ts";
import { StreamError, UDPError } from "../src/io/errors.ts";
import {
  bothModes as registerBothModes,
  scenario,
} from "./fixtures/stream_harness.ts";

function bothModes(
  name: string,
  main: (loop: EventLoop) => Generator<unknown, void, unknown>,
): void {
  registerBothModes(name, (mode) => scenario(mode, main, 10_000));
}

const text = (data: Uint8Array) => new TextDecoder().decode(data);

bothModes(
  "lookup resolves localhost to loopback addresses with port 0",
  function* () {
    const addresses = yield* lookup("localhost");
    assert.ok(addresses.length >= 1, "expected at least one address");
    for (const address of addresses) {
      assert.ok(
        ["127.0.0.1", "::1"].includes(address.hostname),
        `expected a loopback address, got ${address.hostname}`,
      );
      assert.equal(address.port, 0);
    }
  },
);

bothModes("lookup of an IP literal answers that address", function* () {
  assert.deepEqual(yield* lookup("127.0.0.1"), [
    { hostname: "127.0.0.1", port: 0 },
  ]);
  assert.deepEqual(yield* lookup("::1"), [{ hostname: "::1", port: 0 }]);
});

bothModes("lookup with family 4 answers only IPv4 addresses", function* () {
  const addresses = yield* lookup("LOCALHOST", { family: 4 });
  assert.deepEqual(addresses, [{ hostname: "127.0.0.1", port: 0 }]);
});

bothModes(
  "lookup of an unknown name throws StreamError ENOTFOUND",
  function* () {
    const error = yield* catching(lookup("no-such-host.invalid"));
    assert.ok(
      error instanceof StreamError,
      `expected a StreamError, got ${error}`,
    );
    assert.equal(error.code, "ENOTFOUND");
    assert.match(error.message, /no-such-host\.invalid/);
  },
);

bothModes("lookup refuses a family other than 4 or 6", function* () {
  const error = yield* catching(
    lookup("localhost", { family: 5 as unknown as 4 }),
  );
  assert.ok(error instanceof TypeError, `expected a TypeError, got ${error}`);
});

bothModes(
  "a task killed inside lookup ends with TaskExit and leaves no watch behind",
  function* () {
    let lookups = 0;
    let error: unknown = null;
    const resolver = spawn(function* () {
      // Every suspension of this task is inside a lookup.
      try {
        for (;;) {
          yield* lookup("localhost");
          lookups++;
        }
      } catch (thrown) {
        error = thrown;
      }
    });
    while (lookups < 3) yield* lookup("127.0.0.1");
    resolver.kill();
    yield* resolver.join();
    assert.ok(error instanceof TaskExit, `expected TaskExit, got ${error}`);
    // The scenario's loop ending at all shows no reader was left watching.
  },
);

bothModes("a Timeout stops a task waiting in lookup", function* () {
  const error = yield* catching((function* () {
    using _timeout = new Timeout(30).start();
    for (let round = 0; round < 100_000; round++) {
      yield* lookup("localhost");
    }
  })());
  assert.ok(
    error instanceof Timeout,
    `expected the Timeout, got ${error}`,
  );
});

bothModes("UDPEndpoint sends to a host name, resolving it once", function* () {
  using server = new UDPEndpoint();
  server.bind({ hostname: "127.0.0.1", port: 0 });
  const port = server.sockname.port;
  using client = new UDPEndpoint();
  client.send("first", { hostname: "LOCALHOST", port });
  client.send("second", { hostname: "LOCALHOST", port });
  const [one] = yield* server.receive();
  const [two] = yield* server.receive();
  assert.deepEqual([text(one), text(two)], ["first", "second"]);
  client.send("third", { hostname: "LOCALHOST", port });
  assert.equal(text((yield* server.receive())[0]), "third");
});

bothModes("UDPEndpoint binds to a host name", function* () {
  using server = new UDPEndpoint();
  server.bind({ hostname: "LOCALHOST", port: 0 });
  assert.equal(server.sockname.hostname, "127.0.0.1");
  using client = new UDPEndpoint();
  client.send("ping", server.sockname);
  assert.equal(text((yield* server.receive())[0]), "ping");
});

bothModes(
  "UDPEndpoint bind to an unknown name throws UDPError ENOTFOUND",
  function* () {
    using endpoint = new UDPEndpoint();
    const error = yield* catching((function* () {
      endpoint.bind({ hostname: "no-such-host.invalid", port: 0 });
    })());
    assert.ok(error instanceof UDPError, `expected a UDPError, got ${error}`);
    assert.equal(error.code, "ENOTFOUND");
  },
);

bothModes(
  "UDPEndpoint send to an unknown name fails at the next send to it",
  function* () {
    // Names are cached for the process: a fresh one per run.
    const hostname = `peer-${crypto.randomUUID()}.invalid`;
    using endpoint = new UDPEndpoint();
    endpoint.send("lost", { hostname, port: 9 });
    // The first send only started the lookup: send until it has ended.
    const error = yield* catching((function* () {
      for (let round = 0; round < 1000; round++) {
        yield* sleep(5);
        endpoint.send("again", { hostname, port: 9 });
      }
    })());
    assert.ok(error instanceof UDPError, `expected a UDPError, got ${error}`);
    assert.equal(error.code, "ENOTFOUND");
  },
);

function* catching(
  operation: Generator<unknown, unknown, unknown>,
): Generator<unknown, unknown, unknown> {
  try {
    yield* operation;
  } catch (error) {
    return error;
  }
  throw new Error("expected the operation to throw");
}
