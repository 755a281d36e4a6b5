// bind(address, { reusePort: true }) (issue 13, point 4): several servers
// (TCPServer, TLSServer) or UDP endpoints share one port with SO_REUSEPORT;
// without the option the second bind is EADDRINUSE as before. The spread
// over a loop per Worker is tested with examples/multicore_server.ts in
// examples_test.ts.

import assert from "node:assert/strict";
import { EventLoop } from "../src/loop.ts";
import { TCPServer } from "../src/io/tcp.ts";
import { TLSServer } from "../src/io/tls.ts";
import { UDPEndpoint } from "../src/io/udp.ts";
import { TCPError } from "../src/io/errors.ts";
import { makeCertificates } from "./fixtures/tls_certs.ts";

const noHandler = function* () {};

Deno.test("two TCPServers bind one port with reusePort", () => {
  using _loop = new EventLoop();
  using first = new TCPServer({ handleConnection: noHandler });
  first.bind({ hostname: "127.0.0.1", port: 0 }, { reusePort: true });
  using second = new TCPServer({ handleConnection: noHandler });
  second.bind(first.sockname, { reusePort: true });
  assert.equal(second.sockname.port, first.sockname.port);
});

Deno.test("without reusePort the second TCPServer on a port is EADDRINUSE", () => {
  using _loop = new EventLoop();
  using first = new TCPServer({ handleConnection: noHandler });
  first.bind({ hostname: "127.0.0.1", port: 0 }, { reusePort: true });
  using second = new TCPServer({ handleConnection: noHandler });
  assert.throws(
    () => second.bind(first.sockname),
    (error: unknown) =>
      error instanceof TCPError && error.code === "EADDRINUSE",
  );
});

Deno.test("two TLSServers bind one port with reusePort", () => {
  const certs = makeCertificates();
  try {
    using _loop = new EventLoop();
    const options = { cert: certs.certPem, key: certs.keyPem };
    using first = new TLSServer(options);
    first.bind({ hostname: "127.0.0.1", port: 0 }, { reusePort: true });
    using second = new TLSServer(options);
    second.bind(first.sockname, { reusePort: true });
    assert.equal(second.sockname.port, first.sockname.port);
  } finally {
    Deno.removeSync(certs.directory, { recursive: true });
  }
});

Deno.test("two UDPEndpoints bind one port with reusePort", () => {
  using _loop = new EventLoop();
  using first = new UDPEndpoint();
  first.bind({ hostname: "127.0.0.1", port: 0 }, { reusePort: true });
  using second = new UDPEndpoint();
  second.bind(first.sockname, { reusePort: true });
  assert.equal(second.sockname.port, first.sockname.port);
});
