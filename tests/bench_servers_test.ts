// The servers of bench/real_clients.ts answer correctly, not just fast: each
// of ours (bench/servers/), each Deno twin (bench/peers/) and the C line
// echo and DNS responder (bench/peers/line_echo.c and dns.c, built with zig
// cc) is started as its own process and spoken to with the real client where
// the machine has it (redis-cli, curl, socat, dig) and with a hand-written
// Deno client that checks what the real clients do not (pipelined and
// fragmented requests, bodies, errors). Every wait is bounded.

import assert from "node:assert/strict";
import dgram from "node:dgram";
import { hasCommand } from "../bench/servers/common.ts";
import { addressFor } from "../bench/servers/dns_message.ts";

const bench = new URL("../bench/", import.meta.url).pathname;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const WAIT_MS = 20000;

/** A server process started for a test. */
interface Started {
  port: number;
  path: string;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts `bench/<script>` and waits (bounded) for its JSON line. */
function start(script: string, args: string[] = []): Promise<Started> {
  return startCommand(Deno.execPath(), [
    "run",
    "-A",
    "--unstable-net",
    `${bench}${script}`,
    ...args,
  ], script);
}

/** Starts `command` and waits (bounded) for its JSON line. */
async function startCommand(
  command: string,
  args: string[],
  script: string,
): Promise<Started> {
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* it has ended */ }
    await reader.cancel();
    await child.status;
  };
  let text = "";
  try {
    await bounded(
      (async () => {
        while (!text.includes("\n")) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`${script} ended before it listened`);
          text += value;
        }
      })(),
      `${script} to listen`,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  const where = JSON.parse(text.slice(0, text.indexOf("\n")));
  return {
    port: where.port ?? 0,
    path: where.path ?? "",
    [Symbol.asyncDispose]: stop,
  };
}

/** `promise`, or an error naming `what` after WAIT_MS. */
async function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${what}`)),
      WAIT_MS,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a client command (bounded); its stdout. */
async function run(
  command: string,
  args: string[],
  input?: Uint8Array,
): Promise<string> {
  const child = new Deno.Command(command, {
    args,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(WAIT_MS),
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(input);
    await writer.close();
  }
  const output = await child.output();
  assert.ok(
    output.success,
    `${command} ${args.join(" ")} failed: ${decoder.decode(output.stderr)}`,
  );
  return decoder.decode(output.stdout);
}

/** Writes `text` in pieces of `piece` bytes, then reads `expected`. */
async function exchange(
  conn: Deno.Conn,
  text: string,
  expectedLength: number,
  piece = 3,
): Promise<string> {
  const bytes = encoder.encode(text);
  for (let at = 0; at < bytes.length; at += piece) {
    await conn.write(bytes.subarray(at, at + piece));
  }
  return await readAtLeast(conn, expectedLength);
}

/** Reads until `length` bytes came, or end of stream. */
function readAtLeast(conn: Deno.Conn, length: number): Promise<string> {
  return bounded(
    (async () => {
      const chunks: Uint8Array[] = [];
      let got = 0;
      const buffer = new Uint8Array(65536);
      while (got < length) {
        const n = await conn.read(buffer);
        if (n === null) break;
        chunks.push(buffer.slice(0, n));
        got += n;
      }
      return chunks.map((chunk) => decoder.decode(chunk)).join("");
    })(),
    "a reply",
  );
}

// ---------------------------------------------------------------- RESP

const RESP_SERVERS: [string, string, string[]][] = [
  ["our RESP server, readUntil/readBytes shape", "servers/resp.ts", []],
  ["our RESP server, readInto shape", "servers/resp.ts", [
    "--shape",
    "buffered",
  ]],
  ["our RESP server under runSync()", "servers/resp.ts", ["--sync"]],
  ["the Deno twin RESP server", "peers/resp_deno.ts", []],
];

for (const [name, script, args] of RESP_SERVERS) {
  Deno.test(`${name} answers redis-cli PING, SET, GET, INCR`, async () => {
    await using server = await start(script, args);
    if (!await hasCommand("redis-cli")) {
      // The hand-written Deno client test below still runs.
      console.warn(
        "redis-cli is not installed: checked with a Deno client only",
      );
      return;
    }
    const cli = (...command: string[]) =>
      run("redis-cli", [
        "-h",
        "127.0.0.1",
        "-p",
        String(server.port),
        ...command,
      ])
        .then((out) => out.trimEnd());
    assert.equal(await cli("PING"), "PONG");
    assert.equal(await cli("SET", "greeting", "hello world"), "OK");
    assert.equal(await cli("GET", "greeting"), "hello world");
    assert.equal(await cli("GET", "missing"), "");
    assert.equal(await cli("INCR", "counter"), "1");
    assert.equal(await cli("INCR", "counter"), "2");
    assert.match(await cli("NOSUCH"), /unknown command 'NOSUCH'/);
  });

  Deno.test(`${name} parses pipelined, fragmented and inline commands`, async () => {
    await using server = await start(script, args);
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    try {
      // A value with CRLF inside (bulk strings are binary-safe), an inline
      // command, and everything split into 3-byte pieces.
      const requests = "PING\r\n" +
        "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nva\r\nl\r\n" +
        "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n" +
        "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n" +
        "SET inline yes\r\nGET inline\r\n";
      const expected = "+PONG\r\n+OK\r\n$5\r\nva\r\nl\r\n$0\r\n\r\n" +
        "+OK\r\n$3\r\nyes\r\n";
      assert.equal(
        await exchange(conn, requests, expected.length),
        expected,
      );
      // A malformed request gets a protocol error, then the server closes.
      const error = await exchange(conn, "*2\r\n!3\r\n", 1, 100);
      assert.match(error, /^-ERR Protocol error: expected '\$', got '!'/);
      assert.equal(await readAtLeast(conn, 1), "");
    } finally {
      conn.close();
    }
  });

  Deno.test(`${name} keeps a SET value when later requests reuse its read buffer`, async () => {
    await using server = await start(script, args);
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    try {
      // Each request is answered before the next is sent, so each lands
      // where the one before it was read (the parser's arguments are views
      // of that buffer until the store copies them).
      const steps: [string, string][] = [
        ["*3\r\n$3\r\nSET\r\n$1\r\na\r\n$5\r\nfirst\r\n", "+OK\r\n"],
        ["SET b other\r\n", "+OK\r\n"],
        ["*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$5\r\nzzzzz\r\n", "+OK\r\n"],
        ["SET d yyyyy\r\n", "+OK\r\n"],
        ["*2\r\n$3\r\nGET\r\n$1\r\na\r\n", "$5\r\nfirst\r\n"],
        ["GET b\r\n", "$5\r\nother\r\n"],
      ];
      for (const [request, reply] of steps) {
        assert.equal(await exchange(conn, request, reply.length, 100), reply);
      }
    } finally {
      conn.close();
    }
  });
}

// ---------------------------------------------------------------- HTTP

const HTTP_SERVERS: [string, string, string[]][] = [
  ["our HTTP server", "servers/http.ts", []],
  ["our HTTP server under runSync()", "servers/http.ts", ["--sync"]],
  ["Deno.serve (the twin)", "peers/http_deno.ts", []],
];

for (const [name, script, args] of HTTP_SERVERS) {
  Deno.test(`${name} answers curl, with keep-alive and bodies`, async () => {
    await using server = await start(script, args);
    if (!await hasCommand("curl")) {
      // The hand-written Deno client test below still runs.
      console.warn("curl is not installed: checked with a Deno client only");
      return;
    }
    const url = `http://127.0.0.1:${server.port}/`;
    assert.equal(
      await run("curl", ["-sS", "--max-time", "10", url]),
      "Hello, World!",
    );
    // Two requests in one curl: the second reuses the connection.
    const format = " %{http_code} %{num_connects}\n";
    const both = await run("curl", [
      ...["-sS", "--max-time", "10", "-w", format, url, "--next"],
      ...["-sS", "--max-time", "10", "-w", format],
      ...["-d", "a body of 19 bytes.", `${url}echo`],
    ]);
    assert.equal(both, "Hello, World! 200 1\na body of 19 bytes. 200 0\n");
  });

  Deno.test(`${name} parses pipelined requests with Content-Length bodies`, async () => {
    await using server = await start(script, args);
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    try {
      const requests = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" +
        "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n" +
        "Content-Type: text/plain\r\n\r\nhello\r\nbody" +
        "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
      const reply = await exchange(conn, requests, Infinity, 7);
      const bodies = reply.split(/HTTP\/1\.1 200 OK\r\n/).slice(1)
        .map((response) => response.slice(response.indexOf("\r\n\r\n") + 4));
      assert.deepEqual(bodies, [
        "Hello, World!",
        "hello\r\nbody",
        "Hello, World!",
      ]);
      assert.equal(
        (reply.match(/^content-length: \d+\r$/gim) ?? []).length,
        3,
      );
    } finally {
      conn.close();
    }
  });

  Deno.test(`${name} answers a malformed request with 400 and closes`, async () => {
    await using server = await start(script, args);
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    try {
      const reply = await exchange(
        conn,
        "NOT A REQUEST\r\n\r\n",
        Infinity,
        100,
      );
      assert.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n/);
    } finally {
      conn.close();
    }
  });
}

/** Sends `text` on a new connection to `port`; everything until it closes. */
async function exchangeUntilClose(port: number, text: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    return await exchange(conn, text, Infinity, 1000);
  } finally {
    conn.close();
  }
}

Deno.test("our HTTP server's byte-level parser checks what it reads", async () => {
  await using server = await start("servers/http.ts", []);
  const cases: [string, RegExp][] = [
    // Header names in any case; repeated Content-Length values that agree.
    [
      "POST /x HTTP/1.1\r\nCONTENT-length: 3\r\ncontent-Length:  3 \r\n" +
      "connection: Close\r\n\r\nabc",
      /^HTTP\/1\.1 200 OK\r\n[^]*connection: close\r\n\r\nabc$/,
    ],
    [
      "POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
      /^HTTP\/1\.1 400 Bad Request\r\n[^]*conflicting Content-Length/,
    ],
    [
      "POST /x HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
      /^HTTP\/1\.1 400 Bad Request\r\n[^]*bad Content-Length/,
    ],
    [
      "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
      /^HTTP\/1\.1 501 Not Implemented\r\n/,
    ],
    [
      "GET /x HTTP/1.1\r\nBad Name: 1\r\n\r\n",
      /^HTTP\/1\.1 400 Bad Request\r\n[^]*bad header line: Bad Name: 1/,
    ],
    [
      "GET /x HTTP/1.1\r\nX: a\x01b\r\n\r\n",
      /^HTTP\/1\.1 400 Bad Request\r\n[^]*bad header line/,
    ],
    ["GET /x HTTP/2.0\r\n\r\n", /^HTTP\/1\.1 400 Bad Request\r\n/],
    ["GET  /x HTTP/1.1\r\n\r\n", /^HTTP\/1\.1 400 Bad Request\r\n/],
    // HTTP/1.0 closes unless asked to keep the connection; HEAD has no body.
    ["GET / HTTP/1.0\r\n\r\n", /\r\n\r\nHello, World!$/],
    [
      "HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n",
      /^HTTP\/1\.1 200 OK\r\n[^]*content-length: 13\r\n[^]*\r\n\r\n$/,
    ],
  ];
  for (const [request, expected] of cases) {
    const reply = await exchangeUntilClose(server.port, request);
    assert.match(reply, expected, JSON.stringify(request));
  }
});

// ---------------------------------------------------------------- line echo

/** Builds bench/peers/NAME.c into `dir` with `zig cc`; the binary. */
async function buildCPeer(dir: string, name: string): Promise<string> {
  const binary = `${dir}/${name}`;
  // Bounded only against a hang: on a cold cache zig first builds its C
  // runtime.
  const output = await new Deno.Command("zig", {
    args: [
      "cc",
      "-O2",
      "-Wall",
      "-Wextra",
      "-Werror",
      "-o",
      binary,
      `${bench}peers/${name}.c`,
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(10 * 60_000),
  }).output();
  assert.ok(
    output.success,
    `zig cc bench/peers/${name}.c failed: ${decoder.decode(output.stderr)}`,
  );
  return binary;
}

/** A line echo server, started with its socket at `path` in `dir`. */
type EchoStarter = (dir: string, path: string) => Promise<Started>;

const ECHO_SERVERS: [string, EchoStarter][] = [
  [
    "our line echo",
    (_, path) => start("servers/line_echo.ts", ["--path", path]),
  ],
  [
    "our line echo under runSync()",
    (_, path) => start("servers/line_echo.ts", ["--path", path, "--sync"]),
  ],
  ["our line echo, readInto shape", (_, path) =>
    start("servers/line_echo.ts", [
      "--path",
      path,
      "--shape",
      "buffered",
    ])],
  [
    "the Deno twin line echo",
    (_, path) => start("peers/line_echo_deno.ts", ["--path", path]),
  ],
  ["the C line echo (the floor)", async (dir, path) =>
    startCommand(
      await buildCPeer(dir, "line_echo"),
      ["--path", path],
      "peers/line_echo.c",
    )],
];

for (const [name, startEcho] of ECHO_SERVERS) {
  Deno.test(`${name} sends every line back, a last one without \\n too`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      await using server = await startEcho(dir, `${dir}/echo.sock`);
      const lines = Array.from({ length: 1000 }, (_, i) => `line ${i}\n`)
        .join("") + "the last, unended";
      if (await hasCommand("socat")) {
        const back = await run(
          "socat",
          ["-t", "10", "-", `UNIX-CONNECT:${server.path}`],
          encoder.encode(lines),
        );
        assert.equal(back, lines);
      }
      const conn = await Deno.connect({ transport: "unix", path: server.path });
      try {
        const text = "one\ntwo\nthr";
        await conn.write(encoder.encode(text));
        assert.equal(await readAtLeast(conn, 8), "one\ntwo\n");
        await conn.write(encoder.encode("ee\n"));
        assert.equal(await readAtLeast(conn, 6), "three\n");
      } finally {
        conn.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

// ---------------------------------------------------------------- DNS

/** The four bytes of the address our DNS responders answer for `name`. */
function addressBytes(name: Uint8Array): number[] {
  const address = addressFor(name, 0, name.length);
  return [
    address >>> 24,
    (address >>> 16) & 255,
    (address >>> 8) & 255,
    address & 255,
  ];
}

/** A query for `name`, type `type`, id `id`, RD set. */
function query(name: string, type: number, id: number): Uint8Array {
  const labels = name.split(".").flatMap((label) => [
    label.length,
    ...encoder.encode(label),
  ]);
  return new Uint8Array([
    id >> 8,
    id & 255,
    0x01,
    0x00,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    ...labels,
    0,
    0,
    type,
    0,
    1,
  ]);
}

function wireName(name: string): Uint8Array {
  const q = query(name, 1, 0);
  return q.subarray(12, q.length - 4);
}

/** A DNS responder, started with `dir` for what it builds. */
type DnsStarter = (dir: string) => Promise<Started>;

const DNS_SERVERS: [string, DnsStarter][] = [
  ["our DNS responder", () => start("servers/dns.ts")],
  [
    "our DNS responder under runSync()",
    () => start("servers/dns.ts", ["--sync"]),
  ],
  ["the Deno twin DNS responder", () => start("peers/dns_deno.ts")],
  [
    "the C DNS responder (the floor)",
    async (dir) =>
      startCommand(await buildCPeer(dir, "dns"), [], "peers/dns.c"),
  ],
];

/** Runs `test` against a responder started by `startDns` (its files go). */
async function withDns(
  startDns: DnsStarter,
  test: (server: Started) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await using server = await startDns(dir);
    await test(server);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

for (const [name, startDns] of DNS_SERVERS) {
  Deno.test(`${name} answers dig with an A record`, () =>
    withDns(startDns, async (server) => {
      if (!await hasCommand("dig")) {
        // The hand-written Deno client test below still runs.
        console.warn("dig is not installed: checked with a Deno client only");
        return;
      }
      const dig = (...more: string[]) =>
        run("dig", [
          "@127.0.0.1",
          "-p",
          String(server.port),
          "+tries=1",
          "+time=5",
          ...more,
        ]);
      const address = addressBytes(wireName("www.example.test")).join(".");
      assert.equal(
        (await dig("+short", "www.example.test", "A")).trim(),
        address,
      );
      const full = await dig("www.example.test", "A");
      assert.match(full, /status: NOERROR/);
      assert.match(full, /flags: qr aa rd;/);
      assert.match(full, /www\.example\.test\.\s+60\s+IN\s+A\s+127\./);
      const none = await dig("www.example.test", "AAAA");
      assert.match(none, /status: NOERROR/);
      assert.match(none, /ANSWER: 0/);
    }));

  Deno.test(`${name} answers a hand-made query and rejects a bad one`, () =>
    withDns(startDns, async (server) => {
      // node:dgram: Deno.listenDatagram needs --unstable-net.
      const socket = dgram.createSocket("udp4");
      try {
        const replies: Uint8Array[] = [];
        let arrived = () => {};
        socket.on("message", (message: Uint8Array) => {
          replies.push(new Uint8Array(message));
          arrived();
        });
        const ask = async (bytes: Uint8Array) => {
          const reply = new Promise<void>((resolve) => arrived = resolve);
          socket.send(bytes, server.port, "127.0.0.1");
          await bounded(reply, "a DNS reply");
          return replies.shift()!;
        };
        const question = query("a.b", 1, 0x1234);
        const reply = await ask(question);
        assert.deepEqual([...reply.subarray(0, 12)], [
          0x12,
          0x34,
          0x85,
          0x00,
          0,
          1,
          0,
          1,
          0,
          0,
          0,
          0,
        ]);
        assert.deepEqual([...reply.subarray(12, question.length)], [
          ...question.subarray(12),
        ]);
        assert.deepEqual([...reply.subarray(question.length)], [
          0xc0,
          12,
          0,
          1,
          0,
          1,
          0,
          0,
          0,
          60,
          0,
          4,
          ...addressBytes(wireName("a.b")),
        ]);
        // A question whose name runs past the end: FORMERR.
        const broken = query("abc", 1, 7).subarray(0, 14);
        const error = await ask(broken);
        assert.equal(error.length, 12);
        assert.equal(error[3] & 15, 1);
      } finally {
        socket.close();
      }
    }));
}
