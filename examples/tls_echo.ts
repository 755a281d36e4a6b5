/**
 * A TLS echo server and client on one loop: the server presents a PEM
 * certificate and key, the client verifies it against a CA certificate and
 * the host name, both agree on an ALPN protocol, and each line the client
 * sends comes back. Give your own files with --cert, --key and --ca; without
 * them a throwaway self-signed certificate for "localhost" is made with the
 * openssl CLI in a temporary directory (which needs --allow-run and
 * --allow-write too).
 *
 *   deno run --allow-ffi --allow-read --allow-env --allow-run --allow-write examples/tls_echo.ts
 *
 * TLS uses the OS's OpenSSL 3 (libssl.so.3), loaded at run time: Linux for
 * now; elsewhere TLSServer throws TLSError ENOTSUP.
 */

import { parseArgs } from "node:util";
import { EventLoop, spawn, TLSClient, TLSServer } from "../mod.ts";

const { values } = parseArgs({
  options: {
    cert: { type: "string" },
    key: { type: "string" },
    ca: { type: "string" },
    lines: { type: "string", default: "3" },
  },
});

function throwawayCertificate(): { cert: string; key: string; ca: string } {
  const directory = Deno.makeTempDirSync({ prefix: "tls_echo_" });
  try {
    const made = new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-keyout",
        `${directory}/key.pem`,
        "-out",
        `${directory}/cert.pem`,
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
      ],
      stderr: "piped",
    }).outputSync();
    if (!made.success) {
      throw new Error(new TextDecoder().decode(made.stderr));
    }
    const cert = Deno.readTextFileSync(`${directory}/cert.pem`);
    // Self-signed: the certificate is its own CA.
    return {
      cert,
      key: Deno.readTextFileSync(`${directory}/key.pem`),
      ca: cert,
    };
  } finally {
    Deno.removeSync(directory, { recursive: true });
  }
}

const pem = values.cert !== undefined && values.key !== undefined
  ? {
    cert: Deno.readTextFileSync(values.cert),
    key: Deno.readTextFileSync(values.key),
    ca: Deno.readTextFileSync(values.ca ?? values.cert),
  }
  : throwawayCertificate();

using loop = new EventLoop();
const decoder = new TextDecoder();

const server = new TLSServer({
  cert: pem.cert,
  key: pem.key,
  alpnProtocols: ["echo/1"],
  *handleConnection(connection) {
    console.log(`server: handshake done, ALPN ${connection.alpnProtocol}`);
    for (;;) {
      const line = yield* connection.readUntil("\n");
      if (line.length === 0) break; // the client is done
      connection.write(line);
    }
  },
});
server.bind({ hostname: "127.0.0.1", port: 0 });
console.log(`TLS echo server on 127.0.0.1:${server.sockname.port}`);
spawn(function* () {
  yield* server.serve();
});

spawn(function* () {
  using client = new TLSClient();
  yield* client.connect(
    { hostname: "localhost", port: server.sockname.port },
    { caCerts: [pem.ca], alpnProtocols: ["echo/1"] },
  );
  console.log(`client: verified localhost, ALPN ${client.alpnProtocol}`);
  for (let index = 1; index <= Number(values.lines); index++) {
    client.write(`line ${index}\n`);
    const echoed = decoder.decode(yield* client.readUntil("\n")).trimEnd();
    console.log(`client: echoed "${echoed}"`);
  }
  yield* client.shutdown();
  yield* client.readBytes(1); // end of stream: the server closed too
  server.close();
  console.log("done");
});

await loop.run();
