// Our HTTP/1.1 server, written as a user of mod.ts would: one task per
// connection, keep-alive, a real request parser. readUntil("\r\n\r\n") takes
// the head (request line and headers), the body is read with readBytes by
// its Content-Length, and the response leaves in one write(). The parser
// works on the head's bytes (no text decoding of the whole head, no split,
// no regular expressions), and the fixed response is encoded once a second
// with its Date, as fast servers (and hyper under Deno.serve) do. GET and HEAD
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
import { BadRequest, keepAlive, parseHead } from "./http_protocol.ts";

const args = serverArgs();
const encoder = new TextEncoder();
const HELLO = "Hello, World!";
const HEAD_MAX = 64 * 1024;
let dateSecond = 0;
let dateText = "";
// The two "Hello, World!" responses (keep-alive, close) of this second, and
// their HEAD forms, encoded once a second as servers cache their Date.
const hello: Uint8Array[] = [];

/** The Date header's value, computed once a second. */
function date(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
    hello.length = 0;
  }
  return dateText;
}

function head(status: string, length: number, close: boolean): string {
  return `HTTP/1.1 ${status}\r\ncontent-type: text/plain;charset=UTF-8\r\n` +
    `content-length: ${length}\r\ndate: ${date()}\r\n` +
    (close ? "connection: close\r\n\r\n" : "\r\n");
}

/** The encoded "Hello, World!" response (without its body for HEAD). */
function helloResponse(close: boolean, isHead: boolean): Uint8Array {
  date();
  const index = (close ? 1 : 0) + (isHead ? 2 : 0);
  return hello[index] ??= encoder.encode(
    head("200 OK", HELLO.length, close) + (isHead ? "" : HELLO),
  );
}

function* serveConnection(connection: TCPConnection) {
  for (;;) {
    const bytes = yield* connection.readUntil("\r\n\r\n");
    if (bytes.length === 0) return;
    if (bytes.length < 4 || bytes[bytes.length - 1] !== 10) {
      throw new BadRequest(400, "the request head ends early");
    }
    const request = parseHead(bytes);
    const length = request.length;
    const body = length > 0
      ? yield* connection.readBytes(length)
      : new Uint8Array(0);
    if (body.length < length) throw new BadRequest(400, "the body ends early");
    const close = !keepAlive(request);
    if (length > 0) {
      connection.write(head("200 OK", body.length, close));
      connection.write(body);
    } else {
      connection.write(helloResponse(close, request.method === "HEAD"));
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
