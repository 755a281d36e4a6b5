// The HTTP/1.1 request-head parser of our HTTP server (bench/servers/http.ts):
// works on the head's bytes (no text decoding of the whole head, no split,
// no regular expressions); every name is checked as a token, every line for
// its CRLF, and the headers the server acts on are read.

const CR = 13;
const LF = 10;
const SPACE = 32;
const TAB = 9;
const COLON = 58;

/** A parsed request head: what this server needs of it, checked. */
export interface Request {
  method: string;
  target: string;
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minor: number;
  /** Content-Length (0 without one). */
  length: number;
  /** The Connection header's value, lower-cased ("" without one). */
  connection: string;
}

export class BadRequest extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

// RFC 9110 token characters (method and header names).
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TOKEN[c] = 1;
for (let c = 65; c <= 90; c++) TOKEN[c] = TOKEN[c + 32] = 1;

/** Latin-1 text of bytes[from, to) (short: method, target, header values). */
function text(bytes: Uint8Array, from: number, to: number): string {
  let out = "";
  for (let i = from; i < to; i++) out += String.fromCharCode(bytes[i]);
  return out;
}

/** Whether bytes[from, from + name.length) is `name` (lower case) in any case. */
function isName(bytes: Uint8Array, from: number, to: number, name: string) {
  if (to - from !== name.length) return false;
  for (let i = 0; i < name.length; i++) {
    if ((bytes[from + i] | 0x20) !== name.charCodeAt(i)) return false;
  }
  return true;
}

function bad(status: number, what: string, bytes: Uint8Array, from: number) {
  const end = bytes.indexOf(CR, from);
  return new BadRequest(status, `${what}: ${text(bytes, from, end)}`);
}

/**
 * Parses the request line and headers of `head` (ending in CRLF CRLF) at
 * the byte level: every name is checked as a token, every line for its
 * CRLF, and the headers the server acts on (Content-Length,
 * Transfer-Encoding, Connection) are read; repeated Content-Length values
 * must agree.
 */
export function parseHead(head: Uint8Array): Request {
  const end = head.length - 2; // the final CRLF
  let i = 0;
  while (TOKEN[head[i]] === 1) i++;
  const method = text(head, 0, i);
  if (i === 0 || head[i] !== SPACE) throw bad(400, "bad request line", head, 0);
  const targetStart = ++i;
  while (head[i] > SPACE && head[i] !== 127) i++;
  const target = text(head, targetStart, i);
  if (i === targetStart || head[i] !== SPACE) {
    throw bad(400, "bad request line", head, 0);
  }
  i++;
  // "HTTP/1.1" or "HTTP/1.0", then CRLF.
  if (
    head[i] !== 72 || head[i + 1] !== 84 || head[i + 2] !== 84 ||
    head[i + 3] !== 80 || head[i + 4] !== 47 || head[i + 5] !== 49 ||
    head[i + 6] !== 46 || (head[i + 7] !== 49 && head[i + 7] !== 48) ||
    head[i + 8] !== CR || head[i + 9] !== LF
  ) {
    throw bad(400, "bad request line", head, 0);
  }
  const request: Request = {
    method,
    target,
    minor: head[i + 7] - 48,
    length: 0,
    connection: "",
  };
  let seenLength = -1;
  i += 10;
  while (i < end) {
    const lineStart = i;
    while (TOKEN[head[i]] === 1) i++;
    const nameEnd = i;
    if (nameEnd === lineStart || head[i] !== COLON) {
      throw bad(400, "bad header line", head, lineStart);
    }
    i++;
    while (head[i] === SPACE || head[i] === TAB) i++;
    const valueStart = i;
    while (head[i] !== CR) {
      // Control characters other than tab end nothing well.
      if ((head[i] < SPACE && head[i] !== TAB) || head[i] === 127) {
        throw bad(400, "bad header line", head, lineStart);
      }
      i++;
    }
    if (head[i + 1] !== LF) throw bad(400, "bad header line", head, lineStart);
    let valueEnd = i;
    while (
      valueEnd > valueStart &&
      (head[valueEnd - 1] === SPACE || head[valueEnd - 1] === TAB)
    ) valueEnd--;
    i += 2;
    if (isName(head, lineStart, nameEnd, "content-length")) {
      let length = 0;
      if (valueEnd === valueStart || valueEnd - valueStart > 15) {
        throw bad(400, "bad Content-Length", head, lineStart);
      }
      for (let d = valueStart; d < valueEnd; d++) {
        const digit = head[d] - 48;
        if (digit < 0 || digit > 9) {
          throw bad(400, "bad Content-Length", head, lineStart);
        }
        length = length * 10 + digit;
      }
      if (seenLength >= 0 && seenLength !== length) {
        throw bad(400, "conflicting Content-Length", head, lineStart);
      }
      seenLength = request.length = length;
    } else if (isName(head, lineStart, nameEnd, "transfer-encoding")) {
      throw new BadRequest(501, "Transfer-Encoding is not supported");
    } else if (isName(head, lineStart, nameEnd, "connection")) {
      request.connection = text(head, valueStart, valueEnd).toLowerCase();
    }
  }
  return request;
}

/** Whether the connection stays open after this request. */
export function keepAlive(request: Request): boolean {
  if (request.minor === 0) return request.connection === "keep-alive";
  return request.connection !== "close";
}
