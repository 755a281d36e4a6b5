/**
 * Native UDP endpoints seen from JS (`zig/io/udp.zig`): the FFI calls, the
 * 24-byte address records native code reads and writes, and the receive
 * ring, read in place with no FFI call per datagram. `src/io/udp.ts` builds
 * the public `UDPEndpoint` on it. Calls return native result codes (0 or a
 * count, `-code` on failure) so that the I/O layer words its own errors.
 *
 * @module
 */

import { openLibrary } from "./library.ts";
import { closeOnCollect, forgetOnCollect } from "./finalizer.ts";
import { ERROR_NAMES, NativeError } from "./errors.ts";
import type { NativeLoop } from "./native_loop.ts";
import type { NativeLibrary } from "./symbols.ts";
import { testSymbols } from "./test_support.ts";
import {
  FAMILY_IP4,
  UDP_ADDRESS_BYTES as ADDRESS_BYTES,
  UDP_META_BYTES as META_BYTES,
  UDP_META_TRUNCATED as META_TRUNCATED,
  UDP_OPTION_BROADCAST,
  UDP_OPTION_MULTICAST_LOOPBACK,
  UDP_OPTION_MULTICAST_TTL,
  UDP_OPTION_RECEIVE_BUFFER_SIZE,
  UDP_OPTION_SEND_BUFFER_SIZE,
  UDP_OPTION_TTL,
  UDP_RING_HEADER_BYTES as HEADER_BYTES,
  UDP_RING_MAGIC as RING_MAGIC,
  UDP_RING_WORD_DATA_OFFSET as WORD_DATA_OFFSET,
  UDP_RING_WORD_HEAD as WORD_HEAD,
  UDP_RING_WORD_MAGIC as WORD_MAGIC,
  UDP_RING_WORD_META_OFFSET as WORD_META_OFFSET,
  UDP_RING_WORD_META_SIZE as WORD_META_SIZE,
  UDP_RING_WORD_SLOT_COUNT as WORD_SLOT_COUNT,
  UDP_RING_WORD_SLOT_SIZE as WORD_SLOT_SIZE,
  UDP_RING_WORD_TAIL as WORD_TAIL,
} from "./constants.ts";

// Families, record size, send results and bind flags (constants.ts has
// their docs); the receive ring's layout is in zig/io/udp.zig.
export {
  BIND_IPV6_ONLY,
  BIND_REUSE_ADDRESS,
  BIND_REUSE_PORT,
  DATAGRAM_SIZE_MAX,
  FAMILY_IP4,
  FAMILY_IP6,
  SEND_QUEUED,
  SEND_QUEUED_START,
  SEND_SENT,
  UDP_ADDRESS_BYTES as ADDRESS_BYTES,
} from "./constants.ts";

/** Socket options of `setOption` (zig/io/udp_socket.zig `Option`). */
export const UDP_OPTION = {
  broadcast: UDP_OPTION_BROADCAST,
  multicastLoopback: UDP_OPTION_MULTICAST_LOOPBACK,
  multicastTTL: UDP_OPTION_MULTICAST_TTL,
  ttl: UDP_OPTION_TTL,
  receiveBufferSize: UDP_OPTION_RECEIVE_BUFFER_SIZE,
  sendBufferSize: UDP_OPTION_SEND_BUFFER_SIZE,
} as const;

/** A socket address as the public API returns it. */
export interface SocketAddress {
  /** IP address text, IPv6 without brackets. */
  hostname: string;
  /** Port number. */
  port: number;
}

/** Sizes of an endpoint's native buffers. */
export interface NativeUdpOptions {
  /** Bytes per receive slot (1..65536). */
  receiveSize: number;
  /** Receive slots, a power of two up to 1024. */
  receiveBatch: number;
  /** Bytes the send queue may hold (at least 65536). */
  queueBytesMax: number;
}

const EINVAL = -ERROR_NAMES.indexOf("EINVAL");
const EUNKNOWN = -ERROR_NAMES.indexOf("EUNKNOWN");

const encoder = new TextEncoder();
const textScratch = new Uint8Array(256);

/**
 * Parses an IP literal and a port into `out` (an address record); returns
 * the family (4 or 6) or a negative code (EINVAL for anything that is not a
 * numeric IPv4 or IPv6 address).
 *
 * @example
 * ```ts ignore
 * import { ADDRESS_BYTES, parseAddress } from "./udp_native.ts";
 * const record = new Uint8Array(ADDRESS_BYTES);
 * console.log(parseAddress("127.0.0.1", 53, record)); // 4
 * ```
 */
export function parseAddress(
  hostname: string,
  port: number,
  out: Uint8Array,
): number {
  const { read, written } = encoder.encodeInto(hostname, textScratch);
  // A literal never comes close to the scratch size; anything longer is junk.
  if (read !== hostname.length || written >= textScratch.length) return EINVAL;
  return openLibrary().symbols.eg_udp_address(textScratch, written, port, out);
}

/**
 * The `{ hostname, port }` of an address record.
 *
 * @example
 * ```ts ignore
 * import { ADDRESS_BYTES, formatAddress, parseAddress } from "./udp_native.ts";
 * const record = new Uint8Array(ADDRESS_BYTES);
 * parseAddress("::1", 9, record);
 * console.log(formatAddress(record)); // { hostname: "::1", port: 9 }
 * ```
 */
export function formatAddress(record: Uint8Array): SocketAddress {
  const words = new Uint32Array(
    record.buffer,
    record.byteOffset,
    ADDRESS_BYTES / 4,
  );
  const head = words[0];
  return {
    hostname: formatHost(
      head & 0xffff,
      words[1],
      words[2],
      words[3],
      words[4],
      words[5],
    ),
    port: head >>> 16,
  };
}

/** The text of an IPv4 or IPv6 address given as four little-endian words. */
function formatHost(
  family: number,
  scope: number,
  a0: number,
  a1: number,
  a2: number,
  a3: number,
): string {
  if (family === FAMILY_IP4) {
    return `${a0 & 0xff}.${(a0 >>> 8) & 0xff}.${(a0 >>> 16) & 0xff}.${
      a0 >>> 24
    }`;
  }
  const groups = [a0, a1, a2, a3].flatMap((word) => [
    ((word & 0xff) << 8) | ((word >>> 8) & 0xff),
    (((word >>> 16) & 0xff) << 8) | (word >>> 24),
  ]);
  const zone = scope === 0 ? "" : `%${scope}`;
  if (
    groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff
  ) {
    return `::ffff:${a3 & 0xff}.${(a3 >>> 8) & 0xff}.${(a3 >>> 16) & 0xff}.${
      a3 >>> 24
    }${zone}`;
  }
  // RFC 5952: the longest run of two or more zero groups becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(":") + zone;
  const left = hex.slice(0, bestStart).join(":");
  const right = hex.slice(bestStart + bestLength).join(":");
  return `${left}::${right}${zone}`;
}

// Small datagrams are copied out of the ring into a shared pool, as Node's
// Buffer.allocUnsafe does (same sizes): an ArrayBuffer per datagram costs
// more than the datagram's whole trip through the kernel.
const POOL_SIZE = 8192;
const POOLED_MAX = POOL_SIZE >>> 1;
let pool = new Uint8Array(POOL_SIZE);
let poolUsed = 0;

/**
 * A copy of `source[start, start + length)`: a view of the shared pool for
 * a small one (under 4 KiB; it keeps at most the 8 KiB pool alive), its own
 * buffer otherwise.
 */
function copyOut(
  source: Uint8Array,
  start: number,
  length: number,
): Uint8Array<ArrayBuffer> {
  if (length >= POOLED_MAX) return source.slice(start, start + length);
  if (poolUsed + length > POOL_SIZE) {
    pool = new Uint8Array(POOL_SIZE);
    poolUsed = 0;
  }
  const at = poolUsed;
  pool.set(source.subarray(start, start + length), at);
  // Views start 8-byte aligned, so that a Float64Array over one works.
  poolUsed = (at + length + 7) & ~7;
  return pool.subarray(at, at + length);
}

/** Closes the endpoint `handle` (the finalizer of dropped endpoints). */
function closeHandle(handle: number): number {
  return openLibrary().symbols.eg_udp_close(handle);
}

/**
 * One native UDP endpoint (a socket of one family on one loop). Owned by
 * the loop's thread; every call after {@linkcode NativeUdpEndpoint.close},
 * or after its loop was closed (which closes the socket), returns EBADF.
 * One dropped without `close()` is closed when collected.
 *
 * @example
 * ```ts ignore
 * import { NativeLoop } from "./native_loop.ts";
 * import { ADDRESS_BYTES, FAMILY_IP4, NativeUdpEndpoint, parseAddress } from "./udp_native.ts";
 * using loop = new NativeLoop();
 * const endpoint = new NativeUdpEndpoint(loop, FAMILY_IP4, {
 *   receiveSize: 65536, receiveBatch: 64, queueBytesMax: 16 << 20,
 * });
 * const address = new Uint8Array(ADDRESS_BYTES);
 * parseAddress("127.0.0.1", 0, address);
 * endpoint.bind(address, 0);
 * endpoint.close();
 * ```
 */
export class NativeUdpEndpoint {
  /** The socket's address family: `FAMILY_IP4` or `FAMILY_IP6`. */
  readonly family: number;
  #lib: NativeLibrary;
  #handle: number;
  #closed = false;
  #words: Uint32Array | null = null;
  #bytes: Uint8Array | null = null;
  #mask = 0;
  #slotSize = 0;
  #metaWord = 0;
  #dataOffset = 0;
  // The last sender's address words and text: consecutive datagrams from
  // one peer format its hostname once.
  #lastFamily = -1;
  #lastScope = 0;
  #last0 = 0;
  #last1 = 0;
  #last2 = 0;
  #last3 = 0;
  #lastHostname = "";

  /**
   * Creates the endpoint and its socket (`eg_udp_open`).
   *
   * @throws {NativeError} when the socket cannot be created (EMFILE, ...)
   *   or an option is out of range (EINVAL).
   */
  constructor(loop: NativeLoop, family: number, options: NativeUdpOptions) {
    this.#lib = openLibrary();
    const handle = this.#lib.symbols.eg_udp_open(
      loop.handle,
      family,
      options.receiveSize,
      options.receiveBatch,
      options.queueBytesMax,
    );
    if (handle < 0) throw NativeError.from(handle, "create a UDP socket");
    this.#handle = handle;
    this.family = family;
    // Dropped without close(), the endpoint gives its socket back when
    // collected (its loop's close already closed the socket, if it ran).
    closeOnCollect(this, handle, closeHandle);
  }

  /** Binds to an address record; `flags` are the `BIND_*` bits. */
  bind(address: Uint8Array, flags: number): number {
    return this.#lib.symbols.eg_udp_bind(this.#handle, address, flags);
  }

  /** Writes the bound address into the record `out`. */
  sockname(out: Uint8Array): number {
    return this.#lib.symbols.eg_udp_sockname(this.#handle, out);
  }

  /** Maps the receive ring (created natively on first call). */
  mapRing(): number {
    if (this.#words !== null) return 0;
    const address = new BigUint64Array(1);
    const result = this.#lib.symbols.eg_udp_ring(this.#handle, address);
    if (result < 0) return result;
    const pointer = Deno.UnsafePointer.create(address[0]);
    if (pointer === null) return EUNKNOWN;
    const header = new Uint32Array(
      Deno.UnsafePointerView.getArrayBuffer(pointer, HEADER_BYTES),
    );
    if (
      header[WORD_MAGIC] !== RING_MAGIC ||
      header[WORD_META_SIZE] !== META_BYTES
    ) {
      throw new Error(
        "the UDP receive ring has an unknown layout (stale library build: rebuild it)",
      );
    }
    const slotCount = header[WORD_SLOT_COUNT];
    const slotSize = header[WORD_SLOT_SIZE];
    const dataOffset = header[WORD_DATA_OFFSET];
    const buffer = Deno.UnsafePointerView.getArrayBuffer(
      pointer,
      dataOffset + slotCount * slotSize,
    );
    this.#words = new Uint32Array(buffer);
    this.#bytes = new Uint8Array(buffer);
    this.#mask = slotCount - 1;
    this.#slotSize = slotSize;
    this.#metaWord = header[WORD_META_OFFSET] / 4;
    this.#dataOffset = dataOffset;
    return 0;
  }

  /** Datagrams waiting in the receive ring (0 before `mapRing`). */
  pending(): number {
    const words = this.#words;
    if (words === null) return 0;
    return (words[WORD_TAIL] - words[WORD_HEAD]) >>> 0;
  }

  /**
   * The size of the next datagram if it did not fit its slot (where the OS
   * reports it; else the slot size), or -1 when it fit. Needs `pending() > 0`.
   */
  truncatedSize(): number {
    const words = this.#words!;
    const meta = this.#metaWord + (words[WORD_HEAD] & this.#mask) * 8;
    return (words[meta + 1] & META_TRUNCATED) === 0 ? -1 : words[meta];
  }

  /**
   * Takes the next datagram out of the ring: a copy of its bytes and its
   * sender. Needs `pending() > 0`. A datagram under 4 KiB is a view of a
   * shared 8 KiB buffer (as Node's small Buffers are), a larger one has its
   * own buffer.
   */
  take(): [Uint8Array, SocketAddress] {
    const words = this.#words!;
    const head = words[WORD_HEAD];
    const slot = head & this.#mask;
    const meta = this.#metaWord + slot * 8;
    const length = words[meta];
    const stored = length < this.#slotSize ? length : this.#slotSize;
    const start = this.#dataOffset + slot * this.#slotSize;
    const data = copyOut(this.#bytes!, start, stored);
    const sender = this.#sender(words, meta);
    words[WORD_HEAD] = (head + 1) >>> 0;
    return [data, sender];
  }

  /**
   * Takes up to `max` datagrams that fit their slots (it stops before a
   * truncated one) into `out`; returns how many. Their bytes are copied into
   * one new buffer, each datagram a view of it: one allocation per batch.
   */
  takeMany(max: number, out: [Uint8Array, SocketAddress][]): number {
    const words = this.#words!;
    const mask = this.#mask;
    const slotSize = this.#slotSize;
    const head = words[WORD_HEAD];
    const available = (words[WORD_TAIL] - head) >>> 0;
    const limit = available < max ? available : max;
    let count = 0;
    let total = 0;
    for (; count < limit; count++) {
      const meta = this.#metaWord + ((head + count) & mask) * 8;
      if ((words[meta + 1] & META_TRUNCATED) !== 0) break;
      total += words[meta];
    }
    const copy = new Uint8Array(total);
    const bytes = this.#bytes!;
    let offset = 0;
    for (let i = 0; i < count; i++) {
      const slot = (head + i) & mask;
      const meta = this.#metaWord + slot * 8;
      const length = words[meta];
      const start = this.#dataOffset + slot * slotSize;
      copy.set(bytes.subarray(start, start + length), offset);
      out.push([
        copy.subarray(offset, offset + length),
        this.#sender(words, meta),
      ]);
      offset += length;
    }
    words[WORD_HEAD] = (head + count) >>> 0;
    return count;
  }

  /** Drops the next datagram; returns its sender. Needs `pending() > 0`. */
  dropNext(): SocketAddress {
    const words = this.#words!;
    const head = words[WORD_HEAD];
    const sender = this.#sender(
      words,
      this.#metaWord + (head & this.#mask) * 8,
    );
    words[WORD_HEAD] = (head + 1) >>> 0;
    return sender;
  }

  /**
   * Fills the ring from the kernel: > 0 datagrams buffered; 0 when none was
   * waiting and a receive op now reports with `token` (token 0: -EAGAIN
   * instead of an op).
   */
  receive(token: number): number {
    return this.#lib.symbols.eg_udp_receive(this.#handle, token);
  }

  /** Completes a waiting receive op with ECANCELED. */
  cancelReceive(): number {
    return this.#lib.symbols.eg_udp_cancel_receive(this.#handle);
  }

  /** Sends one datagram (or queues a native copy); a `SEND_*` result. */
  send(data: Uint8Array, address: Uint8Array): number {
    return this.#lib.symbols.eg_udp_send(
      this.#handle,
      data,
      data.length,
      address,
    );
  }

  /**
   * Queues a copy of one datagram to leave with the next `sendQueued()`,
   * after the checks `send` makes at once (size, address); a `SEND_*`
   * result (nothing to start either way) or a negative code.
   */
  stage(data: Uint8Array, address: Uint8Array): number {
    return this.#lib.symbols.eg_udp_stage(
      this.#handle,
      data,
      data.length,
      address,
    );
  }

  /**
   * Sends the queued datagrams without waiting: `SEND_SENT` when all went,
   * `SEND_QUEUED` when the send op drains them, `SEND_QUEUED_START` when the
   * kernel is full (start the op), or the negative code of the first
   * datagram refused for good (dropped; the others went or wait).
   */
  sendQueued(): number {
    return this.#lib.symbols.eg_udp_send_queued(this.#handle);
  }

  /**
   * Sends `count` datagrams packed in `data` to one address, in order;
   * `lengths` holds their sizes as native-endian u32s (the bytes of a
   * `Uint32Array`). Returns a `SEND_*` result, or the first failure (its
   * datagram dropped, the others sent).
   */
  sendMany(
    data: Uint8Array,
    dataLength: number,
    lengths: Uint8Array,
    count: number,
    address: Uint8Array,
  ): number {
    return this.#lib.symbols.eg_udp_send_many(
      this.#handle,
      data,
      dataLength,
      lengths,
      count,
      address,
    );
  }

  /** Starts the op draining the send queue: 1 started, 0 nothing to do. */
  flushStart(token: number): number {
    return this.#lib.symbols.eg_udp_flush_start(this.#handle, token);
  }

  /** Datagrams in the native send queue. */
  queued(): number {
    return this.#lib.symbols.eg_udp_queued(this.#handle);
  }

  /** Sets a `UDP_OPTION`. */
  setOption(option: number, value: number): number {
    return this.#lib.symbols.eg_udp_set_option(this.#handle, option, value);
  }

  /** Joins (true) or leaves a multicast group on an interface record. */
  membership(join: boolean, group: Uint8Array, iface: Uint8Array): number {
    return this.#lib.symbols.eg_udp_membership(
      this.#handle,
      join ? 1 : 0,
      group,
      iface,
    );
  }

  /** Picks the interface outgoing multicast datagrams use. */
  multicastInterface(iface: Uint8Array): number {
    return this.#lib.symbols.eg_udp_multicast_interface(this.#handle, iface);
  }

  /** Queues a datagram as if the kernel were full (tests of the queue). */
  testEnqueue(data: Uint8Array, address: Uint8Array): number {
    return testSymbols().eg_test_udp_enqueue(
      this.#handle,
      data,
      data.length,
      address,
    );
  }

  /**
   * Closes the socket: queued datagrams get one last nonblocking try, the
   * ops complete with ECANCELED, the ring is freed. A second call does
   * nothing.
   */
  close(): number {
    if (this.#closed) return 0;
    this.#closed = true;
    this.#words = null;
    this.#bytes = null;
    forgetOnCollect(this);
    return this.#lib.symbols.eg_udp_close(this.#handle);
  }

  #sender(words: Uint32Array, meta: number): SocketAddress {
    const head = words[meta + 2];
    const family = head & 0xffff;
    const scope = words[meta + 3];
    const a0 = words[meta + 4];
    const a1 = words[meta + 5];
    const a2 = words[meta + 6];
    const a3 = words[meta + 7];
    if (
      family !== this.#lastFamily || a0 !== this.#last0 ||
      a1 !== this.#last1 || a2 !== this.#last2 || a3 !== this.#last3 ||
      scope !== this.#lastScope
    ) {
      this.#lastHostname = formatHost(family, scope, a0, a1, a2, a3);
      this.#lastFamily = family;
      this.#lastScope = scope;
      this.#last0 = a0;
      this.#last1 = a1;
      this.#last2 = a2;
      this.#last3 = a3;
    }
    return { hostname: this.#lastHostname, port: head >>> 16 };
  }
}
