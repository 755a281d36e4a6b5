/**
 * Importing evergreen from a URL, for real: builds a release tree for this
 * machine (tools/release.ts --targets=host), serves it over HTTP on
 * 127.0.0.1, and runs `deno run` of a script that imports `mod.ts` from that
 * URL in a fresh DENO_DIR, with EVERGREEN_LIB unset. Then: the cache alone
 * (server stopped), and every way the binary can be wrong, which must be
 * refused before the library is ever opened.
 */

import assert from "node:assert/strict";
import { fileURLToPath, pathToFileURL } from "node:url";
import { sha256Hex } from "../src/native/prebuilt.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const HOST_KEY = `${Deno.build.os}-${Deno.build.arch}`;
const RUN_TIMEOUT_MS = 60_000;

/** A release tree served over HTTP; `overrides` replace files by path. */
interface Served {
  base: string;
  /** Paths requested so far, in order. */
  requests: string[];
  overrides: Map<string, Uint8Array<ArrayBuffer>>;
  close(): Promise<void>;
}

function serveRelease(dir: string): Served {
  const requests: string[] = [];
  const overrides = new Map<string, Uint8Array<ArrayBuffer>>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const path = new URL(request.url).pathname;
      requests.push(path);
      const type = path.endsWith(".ts")
        ? "application/typescript"
        : "application/octet-stream";
      const override = overrides.get(path);
      if (override !== undefined) {
        return new Response(override, { headers: { "content-type": type } });
      }
      try {
        const bytes = await Deno.readFile(`${dir}${path}`);
        return new Response(bytes, { headers: { "content-type": type } });
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
  const port = server.addr.port;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    overrides,
    close: () => server.shutdown(),
  };
}

/**
 * A raw HTTP server that announces the whole file but sends only half of it
 * and hangs up: a download cut short.
 */
function serveTruncated(bytes: Uint8Array): Served {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const requests: string[] = [];
  const serving = (async () => {
    for await (const connection of listener) {
      const head = new Uint8Array(4096);
      const length = await connection.read(head) ?? 0;
      requests.push(new TextDecoder().decode(head.subarray(0, length)));
      const header = new TextEncoder().encode(
        `HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: ${bytes.length}\r\nconnection: close\r\n\r\n`,
      );
      await writeAll(connection, header);
      await writeAll(connection, bytes.subarray(0, bytes.length >> 1));
      connection.close();
    }
  })();
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    overrides: new Map(),
    close: async () => {
      listener.close();
      await serving.catch(() => {});
    },
  };
}

async function writeAll(connection: Deno.Conn, bytes: Uint8Array) {
  for (let offset = 0; offset < bytes.length;) {
    offset += await connection.write(bytes.subarray(offset));
  }
}

/** The script a user would write: fibers, tasks on the loop, native poll. */
function userScript(base: string): string {
  return `
import {
  EventLoop,
  Fiber,
  sleep,
  spawn,
  TCPClient,
  TCPServer,
} from "${base}/mod.ts";

const events = [];
const main = Fiber.current();
const echo = new Fiber(function* (first) {
  let value = first;
  while (value !== "bye") value = yield* main.switch("echo:" + value);
  return "done";
}, { args: ["hi"] });
events.push(echo.switchSync(), echo.switchSync("bye"));

const loop = new EventLoop();
const started = loop.time();
for (const name of ["a", "b"]) {
  spawn(function* () {
    yield* sleep(name === "a" ? 20 : 5);
    events.push(name);
  });
}
const server = new TCPServer({
  *handleConnection(connection) {
    connection.write(yield* connection.readUntil("\\n"));
    yield* connection.flush();
    connection.close();
  },
});
server.bind({ hostname: "127.0.0.1", port: 0 });
spawn(function* () {
  try {
    yield* server.serve();
  } catch (error) {
    if (error.code !== "EBADF") throw error;
  }
});
spawn(function* () {
  yield* sleep(30);
  const client = new TCPClient();
  yield* client.connect(server.sockname);
  client.write("tcp echo\\n");
  events.push(new TextDecoder().decode(yield* client.readUntil("\\n")).trim());
  client.close();
  server.close();
});
await loop.run();
events.push(loop.time() - started >= 20 ? "waited" : "too soon");
loop.destroy();
console.log("events " + JSON.stringify(events));
`;
}

const EXPECTED_EVENTS = 'events ["echo:hi","done","b","a","tcp echo","waited"]';

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the user script from `base` with the documented permissions only. */
async function runUserScript(
  work: string,
  denoDir: string,
  base: string,
  env: Record<string, string> = {},
): Promise<Outcome> {
  const script = `${work}/user_${crypto.randomUUID()}.ts`;
  await Deno.writeTextFile(script, userScript(base));
  const host = new URL(base).host;
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--allow-import=${host}`,
      "--allow-net=127.0.0.1",
      `--allow-read=${denoDir}`,
      `--allow-write=${denoDir}`,
      // Scoped to a path, --allow-ffi would not cover UnsafePointer.create.
      "--allow-ffi",
      "--allow-env=DENO_DIR,EVERGREEN_LIB,EVERGREEN_BINARY_BASE",
      script,
    ],
    cwd: work,
    // No EVERGREEN_* from the caller (so no EVERGREEN_LIB), and a DENO_DIR
    // of the test's own. The rest stays: Windows needs SystemRoot for sockets.
    clearEnv: true,
    env: {
      ...Object.fromEntries(
        Object.entries(Deno.env.toObject()).filter(([name]) =>
          !name.toUpperCase().startsWith("EVERGREEN_")
        ),
      ),
      DENO_DIR: denoDir,
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(RUN_TIMEOUT_MS),
  }).output();
  await Deno.remove(script);
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Runs the release's examples/demo.ts straight from its URL. */
async function runDemo(work: string, denoDir: string, base: string) {
  const host = new URL(base).host;
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--allow-import=${host}`,
      "--allow-net=127.0.0.1",
      `--allow-read=${denoDir}`,
      `--allow-write=${denoDir}`,
      "--allow-ffi",
      "--allow-env=DENO_DIR,EVERGREEN_LIB,EVERGREEN_BINARY_BASE",
      `${base}/examples/demo.ts`,
      "--seconds",
      "0.5",
    ],
    cwd: work,
    clearEnv: true,
    env: {
      ...Object.fromEntries(
        Object.entries(Deno.env.toObject()).filter(([name]) =>
          !name.toUpperCase().startsWith("EVERGREEN_")
        ),
      ),
      DENO_DIR: denoDir,
      NO_COLOR: "1",
      DENO_NO_UPDATE_CHECK: "1",
    },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(RUN_TIMEOUT_MS),
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

function assertWorked(outcome: Outcome, what: string) {
  assert.equal(
    outcome.code,
    0,
    `${what}: the script should succeed; stderr:\n${outcome.stderr}`,
  );
  assert.ok(
    outcome.stdout.includes(EXPECTED_EVENTS),
    `${what}: expected ${EXPECTED_EVENTS}, got:\n${outcome.stdout}`,
  );
}

function assertRefused(outcome: Outcome, what: string, needles: string[]) {
  assert.notEqual(
    outcome.code,
    0,
    `${what}: the script must fail; stdout:\n${outcome.stdout}`,
  );
  assert.ok(
    !outcome.stdout.includes("events"),
    `${what}: nothing may run on a refused library; stdout:\n${outcome.stdout}`,
  );
  for (const needle of needles) {
    assert.ok(
      outcome.stderr.includes(needle),
      `${what}: the error should mention ${needle}; stderr:\n${outcome.stderr}`,
    );
  }
}

async function cacheEntries(denoDir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else found.push(path);
    }
  };
  await walk(`${denoDir}/evergreen`).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  return found;
}

Deno.test("a script imports mod.ts over http and gets a verified, cached native library", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "evergreen-url-import-" });
  try {
    const release = `${work}/release`;
    const build = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        `${ROOT}tools/release.ts`,
        "--targets=host",
        release,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(
      build.code,
      0,
      `tools/release.ts --targets=host failed:\n${
        new TextDecoder().decode(build.stderr)
      }`,
    );
    const checksums = await import(
      pathToFileURL(`${release}/src/native/checksums.ts`).href
    );
    const entry = checksums.BINARIES[HOST_KEY];
    assert.ok(entry, `the release lists a binary for ${HOST_KEY}`);
    const good = await Deno.readFile(`${release}/dist/${entry.file}`);
    assert.equal(await sha256Hex(good), entry.sha256);
    const distPath = `/dist/${entry.file}`;
    const firstDir = `${work}/deno_dir`;
    const cachedPath =
      `${firstDir}/evergreen/${checksums.VERSION}/${entry.sha256}/${entry.file}`;
    const buildHint = "tools/dev build";
    // Appended bytes leave the library loadable: had it been opened, the
    // script would have worked, so a refusal proves it was checked first.
    const tampered = new Uint8Array(good.length + 16);
    tampered.set(good);
    tampered.set(new TextEncoder().encode("tampered-binary!"), good.length);
    const tamperedSha = await sha256Hex(tampered);

    // Deno caches modules by URL, so later offline runs reuse this one.
    let firstBase = "";
    await t.step(
      "a fresh DENO_DIR downloads, verifies and caches the binary",
      async () => {
        const served = serveRelease(release);
        firstBase = served.base;
        try {
          assertWorked(
            await runUserScript(work, firstDir, served.base),
            "first run",
          );
          assert.equal(
            served.requests.filter((p) => p === distPath).length,
            1,
            `the binary is downloaded once; requests: ${served.requests}`,
          );
        } finally {
          await served.close();
        }
        assert.deepEqual(await cacheEntries(firstDir), [cachedPath]);
        assert.equal(
          await sha256Hex(await Deno.readFile(cachedPath)),
          entry.sha256,
        );
      },
    );

    await t.step(
      "the demo runs from the release URL on the cached library",
      async () => {
        const served = serveRelease(release);
        try {
          const outcome = await runDemo(work, firstDir, served.base);
          assert.equal(outcome.code, 0, `demo failed: ${outcome.stderr}`);
          assert.match(outcome.stdout, /round trips\/s/);
          assert.ok(
            !served.requests.includes(distPath),
            `the cached binary is used, not downloaded again: ${served.requests}`,
          );
        } finally {
          await served.close();
        }
      },
    );

    await t.step(
      "with the server stopped, the caches alone run it",
      async () => {
        assertWorked(
          await runUserScript(work, firstDir, firstBase),
          "offline run",
        );
      },
    );

    await t.step(
      "a tampered cache entry is refused offline and removed",
      async () => {
        await Deno.writeFile(cachedPath, tampered);
        assertRefused(
          await runUserScript(work, firstDir, firstBase),
          "tampered cache, no network",
          [cachedPath, tamperedSha, entry.sha256, entry.file, buildHint],
        );
        assert.deepEqual(await cacheEntries(firstDir), []);
      },
    );

    await t.step("no network and an empty cache is a clear error", async () => {
      assertRefused(
        await runUserScript(work, firstDir, firstBase),
        "empty cache, no network",
        [
          "cannot download",
          `${firstBase}/dist/${entry.file}`,
          entry.sha256,
          buildHint,
        ],
      );
    });

    await t.step(
      "a tampered cache entry is replaced by a verified download",
      async () => {
        await Deno.writeFile(cachedPath, tampered);
        // The modules still come from the (stopped) first URL's cache; the
        // binary from a new server named by EVERGREEN_BINARY_BASE.
        const served = serveRelease(release);
        try {
          assertWorked(
            await runUserScript(work, firstDir, firstBase, {
              EVERGREEN_BINARY_BASE: `${served.base}/dist/`,
            }),
            "tampered cache, network",
          );
          assert.deepEqual(served.requests, [distPath]);
        } finally {
          await served.close();
        }
        assert.equal(
          await sha256Hex(await Deno.readFile(cachedPath)),
          entry.sha256,
          "the cache entry holds the verified binary again",
        );
      },
    );

    await t.step(
      "EVERGREEN_LIB still wins over the prebuilt binary",
      async () => {
        await Deno.remove(`${firstDir}/evergreen`, { recursive: true });
        const own = `${work}/own/${entry.file}`;
        await Deno.mkdir(`${work}/own`);
        await Deno.writeFile(own, good);
        // No network and no cache: only the explicit library can work.
        assertWorked(
          await runUserScript(work, firstDir, firstBase, {
            EVERGREEN_LIB: own,
          }),
          "EVERGREEN_LIB over http",
        );
        assert.deepEqual(await cacheEntries(firstDir), []);
      },
    );

    await t.step(
      "a tampered binary on the server is refused and not cached",
      async () => {
        const served = serveRelease(release);
        served.overrides.set(distPath, tampered);
        const denoDir = `${work}/deno_dir_tampered`;
        try {
          assertRefused(
            await runUserScript(work, denoDir, served.base),
            "tampered download",
            [
              "checksum mismatch",
              `${served.base}${distPath}`,
              `expected SHA-256 ${entry.sha256}`,
              `got ${tamperedSha}`,
              buildHint,
            ],
          );
        } finally {
          await served.close();
        }
        assert.deepEqual(await cacheEntries(denoDir), []);
      },
    );

    await t.step("a truncated download is refused and not cached", async () => {
      const served = serveRelease(release);
      const truncating = serveTruncated(good);
      const denoDir = `${work}/deno_dir_truncated`;
      try {
        assertRefused(
          await runUserScript(work, denoDir, served.base, {
            EVERGREEN_BINARY_BASE: `${truncating.base}/dist`,
          }),
          "truncated download",
          [
            "incomplete download",
            `${truncating.base}${distPath}`,
            `expected SHA-256 ${entry.sha256}`,
            buildHint,
          ],
        );
        assert.equal(truncating.requests.length, 1);
      } finally {
        await truncating.close();
        await served.close();
      }
      assert.deepEqual(await cacheEntries(denoDir), []);
    });

    await t.step(
      "a release without a binary for this machine says so",
      async () => {
        const served = serveRelease(release);
        const table = await Deno.readTextFile(
          `${release}/src/native/checksums.ts`,
        );
        served.overrides.set(
          "/src/native/checksums.ts",
          new TextEncoder().encode(
            table.replace(`"${HOST_KEY}"`, '"plan9-mips"'),
          ),
        );
        try {
          assertRefused(
            await runUserScript(work, `${work}/deno_dir_other`, served.base),
            "no binary for this target",
            [
              `no prebuilt native library for ${HOST_KEY}`,
              "plan9-mips",
              buildHint,
            ],
          );
          assert.ok(!served.requests.includes(distPath));
        } finally {
          await served.close();
        }
      },
    );
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
