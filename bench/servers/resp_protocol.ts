// RESP (the Redis protocol) pieces shared by our RESP server
// (bench/servers/resp.ts) and its Deno twin (bench/peers/resp_deno.ts), so
// that both sides pay the same for everything but the I/O: a key/value store
// with the commands redis-benchmark and redis-cli use (PING, ECHO, SET, GET,
// DEL, EXISTS, INCR, CONFIG GET, COMMAND), reply encoding, and a parser of
// requests in a byte buffer (arrays of bulk strings, and inline commands such
// as `PING\r\n`, which `redis-benchmark -t ping` sends).

const encoder = new TextEncoder();

/** Bytes of an ASCII string. */
export const ascii = (text: string): Uint8Array<ArrayBuffer> =>
  encoder.encode(text);

const PONG = ascii("+PONG\r\n");
const OK = ascii("+OK\r\n");
const NIL = ascii("$-1\r\n");
const EMPTY_ARRAY = ascii("*0\r\n");

/** A protocol error: the server answers `-ERR ...` and closes. */
export class ProtocolError extends Error {}

/** The text of bytes, one char per byte (keys and command names). */
export function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
  return text;
}

/** A non-negative decimal in `bytes[start, end)`; -1 when not one. */
export function parseDecimal(
  bytes: Uint8Array,
  start: number,
  end: number,
): number {
  if (start >= end || end - start > 15) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = bytes[i] - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/** `$<len>\r\n<data>\r\n` */
export function bulk(data: Uint8Array): Uint8Array {
  const header = `$${data.length}\r\n`;
  const reply = new Uint8Array(header.length + data.length + 2);
  for (let i = 0; i < header.length; i++) reply[i] = header.charCodeAt(i);
  reply.set(data, header.length);
  reply[reply.length - 2] = 13;
  reply[reply.length - 1] = 10;
  return reply;
}

const errorReply = (message: string) => ascii(`-ERR ${message}\r\n`);
const integer = (value: number) => ascii(`:${value}\r\n`);

/**
 * The key/value store and the commands; one per server process. SET keeps a
 * copy of its value unless `copyValues` is false: a server whose arguments
 * are views of a buffer it reads into again (the parser below) needs the
 * copy; one whose reads return arrays of its own (our `readBytes`) does not.
 */
export class Store {
  readonly #values = new Map<string, Uint8Array>();
  readonly #copyValues: boolean;

  constructor(options: { copyValues?: boolean } = {}) {
    this.#copyValues = options.copyValues ?? true;
  }

  /** The reply to one command (`args[0]` is its name). */
  execute(args: Uint8Array[]): Uint8Array {
    if (args.length === 0) return errorReply("empty command");
    const name = latin1(args[0]).toUpperCase();
    switch (name) {
      case "PING":
        if (args.length === 1) return PONG;
        return bulk(args[1]);
      case "ECHO":
        if (args.length !== 2) break;
        return bulk(args[1]);
      case "SET":
        if (args.length < 3) break;
        this.#values.set(
          latin1(args[1]),
          this.#copyValues ? args[2].slice() : args[2],
        );
        return OK;
      case "GET": {
        if (args.length !== 2) break;
        const value = this.#values.get(latin1(args[1]));
        return value === undefined ? NIL : bulk(value);
      }
      case "DEL":
      case "EXISTS": {
        if (args.length < 2) break;
        let count = 0;
        for (let i = 1; i < args.length; i++) {
          const key = latin1(args[i]);
          if (this.#values.has(key)) {
            count++;
            if (name === "DEL") this.#values.delete(key);
          }
        }
        return integer(count);
      }
      case "INCR": {
        if (args.length !== 2) break;
        const key = latin1(args[1]);
        const old = this.#values.get(key);
        const value = old === undefined ? 0 : Number(latin1(old));
        if (!Number.isSafeInteger(value)) {
          return errorReply("value is not an integer or out of range");
        }
        this.#values.set(key, ascii(String(value + 1)));
        return integer(value + 1);
      }
      case "CONFIG":
        // redis-benchmark asks for `save` and `appendonly` when it starts.
        if (args.length === 3 && latin1(args[1]).toUpperCase() === "GET") {
          const empty = new Uint8Array(0);
          const parts = [ascii("*2\r\n"), bulk(args[2]), bulk(empty)];
          return concat(parts);
        }
        break;
      case "COMMAND":
        return EMPTY_ARRAY;
      default:
        return errorReply(`unknown command '${name}'`);
    }
    return errorReply(`wrong number of arguments for '${name}' command`);
  }
}

/** One buffer holding `parts` one after the other. */
export function concat(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * The index of the CR of the first CRLF in `bytes[from, end)`, or -1. A
 * plain loop: `indexOf` would scan on past `end` into stale bytes.
 */
function findCrlf(bytes: Uint8Array, from: number, end: number): number {
  for (let i = from; i + 1 < end; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10) return i;
  }
  return -1;
}

/** Splits an inline command (`SET k v`) on spaces. */
export function splitInline(
  bytes: Uint8Array,
  start: number,
  end: number,
): Uint8Array[] {
  const args: Uint8Array[] = [];
  let i = start;
  while (i < end) {
    while (i < end && bytes[i] === 32) i++;
    const begin = i;
    while (i < end && bytes[i] !== 32) i++;
    if (i > begin) args.push(bytes.subarray(begin, i));
  }
  return args;
}

/** A parsed command and where the next one starts. */
/**
 * Bytes read and not parsed yet, `bytes[start, end)`, in a buffer that
 * `space()` makes room in (moving the unparsed bytes down, else doubling).
 */
export class InputBuffer {
  bytes = new Uint8Array(64 * 1024);
  start = 0;
  end = 0;

  /** The free end of the buffer, for the next read. */
  space(): Uint8Array {
    if (this.end === this.bytes.length) {
      if (this.start > 0) {
        this.bytes.copyWithin(0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      } else {
        const bigger = new Uint8Array(this.bytes.length * 2);
        bigger.set(this.bytes);
        this.bytes = bigger;
      }
    }
    return this.bytes.subarray(this.end);
  }

  /** Forgets the parsed bytes when nothing unparsed is left. */
  settle(): void {
    if (this.start === this.end) this.start = this.end = 0;
  }
}

export interface Parsed {
  args: Uint8Array[];
  next: number;
}

/**
 * Parses one command at `bytes[start, end)`: null when it is not complete
 * yet. The arguments are views of `bytes`, valid until the buffer is read
 * into again (the store copies what it keeps). A copy per argument would
 * cost most of a request: each `slice()` makes an `ArrayBuffer`, ~0.4 µs in
 * Deno against ~35 ns for a view.
 *
 * @throws {ProtocolError} for malformed input.
 */
export function parseCommand(
  bytes: Uint8Array,
  start: number,
  end: number,
): Parsed | null {
  if (start >= end) return null;
  const lineEnd = findCrlf(bytes, start, end);
  if (lineEnd < 0) {
    if (end - start > 64 * 1024) throw new ProtocolError("line too long");
    return null;
  }
  if (bytes[start] !== 42 /* * */) {
    return { args: splitInline(bytes, start, lineEnd), next: lineEnd + 2 };
  }
  const count = parseDecimal(bytes, start + 1, lineEnd);
  if (count < 0 || count > 1024 * 1024) {
    throw new ProtocolError("invalid multibulk length");
  }
  const args: Uint8Array[] = new Array(count);
  let at = lineEnd + 2;
  for (let i = 0; i < count; i++) {
    if (at >= end) return null;
    if (bytes[at] !== 36 /* $ */) {
      throw new ProtocolError(
        `expected '$', got '${String.fromCharCode(bytes[at])}'`,
      );
    }
    const headerEnd = findCrlf(bytes, at, end);
    if (headerEnd < 0) return null;
    const length = parseDecimal(bytes, at + 1, headerEnd);
    if (length < 0 || length > 512 * 1024 * 1024) {
      throw new ProtocolError("invalid bulk length");
    }
    const dataStart = headerEnd + 2;
    if (dataStart + length + 2 > end) return null;
    args[i] = bytes.subarray(dataStart, dataStart + length);
    at = dataStart + length + 2;
  }
  return { args, next: at };
}

/** The `-ERR` reply for a protocol error. */
export const protocolErrorReply = (error: ProtocolError): Uint8Array =>
  errorReply(`Protocol error: ${error.message}`);

/**
 * Gathers the replies to one batch of requests into one growing buffer, so
 * that a batch leaves in one write.
 */
export class ReplyBuffer {
  #bytes = new Uint8Array(64 * 1024);
  length = 0;

  /** Appends one reply. */
  push(reply: Uint8Array): void {
    if (this.length + reply.length > this.#bytes.length) {
      const bigger = new Uint8Array(
        Math.max(this.#bytes.length * 2, this.length + reply.length),
      );
      bigger.set(this.#bytes.subarray(0, this.length));
      this.#bytes = bigger;
    }
    this.#bytes.set(reply, this.length);
    this.length += reply.length;
  }

  /** The gathered bytes (a view, valid until the next push after clear). */
  view(): Uint8Array {
    return this.#bytes.subarray(0, this.length);
  }

  /** Empties it. */
  clear(): void {
    this.length = 0;
  }
}
