// Our HTTP/1.1 server, written as a user of mod.ts would: one task per
// connection, keep-alive, a real request parser. readUntil("\r\n\r\n") takes
// the head (request line and headers), the body is read with readBytes by
// its Content-Length, and the response leaves in one write(). GET and HEAD
// answer "Hello, World!" (what the Deno.serve twin answers); a request with
// a body gets the body back. Prints {"port":N} once it listens.
//
//   deno run -A bench/servers/http.ts [--port N] [--sync]

import {
  EventLoop,
  spawn,
  StreamError,
  type TCPConnection,
  TCPServer,
} from "../../mod.ts";
import { serveInTask } from "../tcp_shapes.ts";
import { announce, serverArgs } from "./common.ts";

const args = serverArgs();
const decoder = new TextDecoder("latin1");
const HELLO = "Hello, World!";
const HEAD_MAX = 64 * 1024;

/** A parsed request head. */
interface Request {
  method: string;
  target: string;
  version: string;
  headers: Map<string, string>;
}

class BadRequest extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Parses the request line and headers of `head` (ending in CRLF CRLF). */
function parseHead(head: Uint8Array): Request {
  const lines = decoder.decode(head.subarray(0, head.length - 4)).split("\r\n");
  const [method, target, version, extra] = lines[0].split(" ");
  if (
    extra !== undefined || !TOKEN.test(method ?? "") || !target ||
    (version !== "HTTP/1.1" && version !== "HTTP/1.0")
  ) {
    throw new BadRequest(400, `bad request line: ${lines[0]}`);
  }
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(":");
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) {
      throw new BadRequest(400, `bad header line: ${line}`);
    }
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    const previous = headers.get(name);
    headers.set(name, previous === undefined ? value : `${previous}, ${value}`);
  }
  return { method, target, version, headers };
}

/** The body's length from Content-Length (0 without one). */
function bodyLength(request: Request): number {
  if (request.headers.has("transfer-encoding")) {
    throw new BadRequest(501, "Transfer-Encoding is not supported");
  }
  const text = request.headers.get("content-length");
  if (text === undefined) return 0;
  if (!/^\d{1,15}$/.test(text)) {
    throw new BadRequest(400, `bad Content-Length: ${text}`);
  }
  return Number(text);
}

/** Whether the connection stays open after this request. */
function keepAlive(request: Request): boolean {
  const connection = request.headers.get("connection")?.toLowerCase() ?? "";
  if (request.version === "HTTP/1.0") return connection === "keep-alive";
  return connection !== "close";
}

let dateSecond = 0;
let dateText = "";
/** The Date header's value, computed once a second. */
function date(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

function head(status: string, length: number, close: boolean): string {
  return `HTTP/1.1 ${status}\r\ncontent-type: text/plain;charset=UTF-8\r\n` +
    `content-length: ${length}\r\ndate: ${date()}\r\n` +
    (close ? "connection: close\r\n\r\n" : "\r\n");
}

function* serveConnection(connection: TCPConnection) {
  for (;;) {
    const bytes = yield* connection.readUntil("\r\n\r\n");
    if (bytes.length === 0) return;
    if (bytes.length < 4 || bytes[bytes.length - 1] !== 10) {
      throw new BadRequest(400, "the request head ends early");
    }
    const request = parseHead(bytes);
    const length = bodyLength(request);
    const body = length > 0
      ? yield* connection.readBytes(length)
      : new Uint8Array(0);
    if (body.length < length) throw new BadRequest(400, "the body ends early");
    const close = !keepAlive(request);
    if (length > 0) {
      connection.write(head("200 OK", body.length, close));
      connection.write(body);
    } else if (request.method === "HEAD") {
      connection.write(head("200 OK", HELLO.length, close));
    } else {
      connection.write(head("200 OK", HELLO.length, close) + HELLO);
    }
    if (close) return;
  }
}

using loop = new EventLoop();
const server = new TCPServer({
  maxBufferSize: HEAD_MAX,
  *handleConnection(connection) {
    try {
      yield* serveConnection(connection);
      yield* connection.flush();
    } catch (error) {
      if (error instanceof BadRequest) {
        const reason = error.status === 501 ? "Not Implemented" : "Bad Request";
        const text = `${error.message}\n`;
        connection.write(head(`${error.status} ${reason}`, text.length, true));
        connection.write(text);
        yield* connection.flush();
      } else if (!(error instanceof StreamError)) throw error;
    } finally {
      connection.close();
    }
  },
});
server.bind({ hostname: "127.0.0.1", port: args.port });
serveInTask({ spawn, StreamError }, server);
announce({ port: server.sockname.port });
if (args.sync) loop.runSync();
else await loop.run();
