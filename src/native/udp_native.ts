/**
 * Native UDP endpoints seen from JS (`zig/io/udp.zig`): the FFI calls and the
 * receive ring, read in place with no FFI call per datagram (addresses cross
 * as the records of `address.ts`). `src/io/udp.ts` builds
 * the public `UDPEndpoint` on it. Calls return native result codes (0 or a
 * count, `-code` on failure) so that the I/O layer words its own errors.
 *
 * @module
 */

import { openLibrary } from "./library.ts";
import { closeOnCollect, forgetOnCollect } from "./finalizer.ts";
import { NativeError } from "./errors.ts";
import type { NativeLoop } from "./native_loop.ts";
import type { NativeLibrary } from "./symbols.ts";
import { mapSharedRing, type RingLayout } from "./shared_ring.ts";
import { testSymbols } from "./test_support.ts";
import {
  type Address,
  ADDRESS_BYTES,
  FAMILY_IP4,
  hostText,
} from "./address.ts";
import {
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

// Send results and bind flags (constants.ts has their docs); address
// families and the record size are in address.ts, the receive ring's layout
// in zig/io/udp.zig.
export {
  BIND_IPV6_ONLY,
  BIND_REUSE_ADDRESS,
  BIND_REUSE_PORT,
  DATAGRAM_SIZE_MAX,
  SEND_QUEUED,
  SEND_QUEUED_START,
  SEND_SENT,
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

/** Sizes of an endpoint's native buffers. */
export interface NativeUdpOptions {
  /** Bytes per receive slot (1..65536). */
  receiveSize: number;
  /** Receive slots, a power of two up to 1024. */
  receiveBatch: number;
  /** Bytes the send queue may hold (at least 65536). */
  queueBytesMax: number;
}

const RECEIVE_RING: RingLayout = {
  name: "the UDP receive ring",
  headerBytes: HEADER_BYTES,
  magicWord: WORD_MAGIC,
  magic: RING_MAGIC,
  recordSizeWord: WORD_META_SIZE,
  recordSize: META_BYTES,
  bytes: (header) =>
    header[WORD_DATA_OFFSET] +
    header[WORD_SLOT_COUNT] * header[WORD_SLOT_SIZE],
};

// The text of IPv4 senders seen lately, so that a server with many peers
// crosses the FFI seam once per peer, not once per datagram. Bounded:
// cleared when full.
const IP4_NAMES_MAX = 4096;
const ip4Names = new Map<number, string>();

// Small datagrams are copied out of the ring into a shared pool, as Node's
// Buffer.allocUnsafe does (same sizes): an ArrayBuffer per datagram costs
// more than the datagram's whole trip through the kernel. The pool is
// replaced when full or when a caller detached it (transferred a datagram's
// `.buffer`): a detached pool's length reads 0.
const POOL_SIZE = 8192;
const POOLED_MAX = POOL_SIZE >>> 1;
let pool = new Uint8Array(POOL_SIZE);
let poolWords = new Int32Array(pool.buffer);
let poolUsed = 0;
// Up to this size a datagram is copied word by word: for the short
// datagrams most protocols exchange, cheaper than set() of a subarray.
const WORD_COPY_MAX = 256;

/**
 * A copy of `source[start, start + length)` (`sourceWords` is the same
 * memory as i32s): a view of the shared pool for a small one (under 4 KiB;
 * it keeps at most the 8 KiB pool alive), its own buffer otherwise.
 */
function copyOut(
  source: Uint8Array,
  sourceWords: Int32Array,
  start: number,
  length: number,
): Uint8Array<ArrayBuffer> {
  if (length >= POOLED_MAX) return source.slice(start, start + length);
  if (poolUsed + length > pool.length) {
    pool = new Uint8Array(POOL_SIZE);
    poolWords = new Int32Array(pool.buffer);
    poolUsed = 0;
  }
  const at = poolUsed;
  if (length <= WORD_COPY_MAX && (start & 3) === 0) {
    // Up to 3 bytes past the datagram are copied too: the slot and the
    // pool's 8-byte step have room (a word past either end is skipped).
    const from = start >>> 2;
    const to = at >>> 2;
    const words = (length + 3) >>> 2;
    for (let i = 0; i < words; i++) poolWords[to + i] = sourceWords[from + i];
  } else {
    pool.set(source.subarray(start, start + length), at);
  }
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
 * import { ADDRESS_BYTES, encodeAddress, FAMILY_IP4 } from "./address.ts";
 * import { NativeUdpEndpoint } from "./udp_native.ts";
 * using loop = new NativeLoop();
 * const endpoint = new NativeUdpEndpoint(loop, FAMILY_IP4, {
 *   receiveSize: 65536, receiveBatch: 64, queueBytesMax: 16 << 20,
 * });
 * const address = new Uint8Array(ADDRESS_BYTES);
 * encodeAddress("127.0.0.1", 0, address);
 * endpoint.bind(address, 0);
 * endpoint.close();
 * ```
 */
export class NativeUdpEndpoint {
  /** The socket's address family: `FAMILY_IP4` or `FAMILY_IP6`. */
  readonly family: number;
  #sym: NativeLibrary["symbols"];
  #handle: number;
  #closed = false;
  #words: Uint32Array | null = null;
  #bytes: Uint8Array | null = null;
  #ints: Int32Array | null = null;
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
    this.#sym = openLibrary().symbols;
    const handle = this.#sym.eg_udp_open(
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
    return this.#sym.eg_udp_bind(this.#handle, address, flags);
  }

  /** Writes the bound address into the record `out`. */
  sockname(out: Uint8Array): number {
    return this.#sym.eg_udp_sockname(this.#handle, out);
  }

  /** Maps the receive ring (created natively on first call). */
  mapRing(): number {
    if (this.#words !== null) return 0;
    const address = new BigUint64Array(1);
    const result = this.#sym.eg_udp_ring(this.#handle, address);
    if (result < 0) return result;
    const buffer = mapSharedRing(address[0], RECEIVE_RING);
    const words = new Uint32Array(buffer);
    this.#words = words;
    this.#bytes = new Uint8Array(buffer);
    this.#ints = new Int32Array(buffer);
    this.#mask = words[WORD_SLOT_COUNT] - 1;
    this.#slotSize = words[WORD_SLOT_SIZE];
    this.#metaWord = words[WORD_META_OFFSET] / 4;
    this.#dataOffset = words[WORD_DATA_OFFSET];
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
  take(): [Uint8Array, Address] {
    const words = this.#words!;
    const head = words[WORD_HEAD];
    const slot = head & this.#mask;
    const meta = this.#metaWord + slot * 8;
    const length = words[meta];
    const stored = length < this.#slotSize ? length : this.#slotSize;
    const start = this.#dataOffset + slot * this.#slotSize;
    const data = copyOut(this.#bytes!, this.#ints!, start, stored);
    const sender = this.#sender(words, meta);
    words[WORD_HEAD] = (head + 1) >>> 0;
    return [data, sender];
  }

  /**
   * Takes up to `max` datagrams that fit their slots (it stops before a
   * truncated one) into `out`; returns how many. Their bytes are copied into
   * one new buffer, each datagram a view of it: one allocation per batch.
   */
  takeMany(max: number, out: [Uint8Array, Address][]): number {
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
  dropNext(): Address {
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
    return this.#sym.eg_udp_receive(this.#handle, token);
  }

  /** Completes a waiting receive op with ECANCELED. */
  cancelReceive(): number {
    return this.#sym.eg_udp_cancel_receive(this.#handle);
  }

  /** Sends one datagram (or queues a native copy); a `SEND_*` result. */
  send(data: Uint8Array, address: Uint8Array): number {
    return this.#sym.eg_udp_send(this.#handle, data, data.length, address);
  }

  /**
   * Queues a copy of one datagram to leave with the next `sendQueued()`,
   * after the checks `send` makes at once (size, address); a `SEND_*`
   * result (nothing to start either way) or a negative code.
   */
  stage(data: Uint8Array, address: Uint8Array): number {
    return this.#sym.eg_udp_stage(this.#handle, data, data.length, address);
  }

  /**
   * Sends the queued datagrams without waiting: `SEND_SENT` when all went,
   * `SEND_QUEUED` when the send op drains them, `SEND_QUEUED_START` when the
   * kernel is full (start the op), or the negative code of the first
   * datagram refused for good (dropped; the others went or wait).
   */
  sendQueued(): number {
    return this.#sym.eg_udp_send_queued(this.#handle);
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
    return this.#sym.eg_udp_send_many(
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
    return this.#sym.eg_udp_flush_start(this.#handle, token);
  }

  /** Datagrams in the native send queue. */
  queued(): number {
    return this.#sym.eg_udp_queued(this.#handle);
  }

  /** Sets a `UDP_OPTION`. */
  setOption(option: number, value: number): number {
    return this.#sym.eg_udp_set_option(this.#handle, option, value);
  }

  /** Joins (true) or leaves a multicast group on an interface record. */
  membership(join: boolean, group: Uint8Array, iface: Uint8Array): number {
    return this.#sym.eg_udp_membership(
      this.#handle,
      join ? 1 : 0,
      group,
      iface,
    );
  }

  /** Picks the interface outgoing multicast datagrams use. */
  multicastInterface(iface: Uint8Array): number {
    return this.#sym.eg_udp_multicast_interface(this.#handle, iface);
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
    this.#ints = null;
    forgetOnCollect(this);
    return this.#sym.eg_udp_close(this.#handle);
  }

  /** A new sender's text, formatted by native code as TCP's addresses are. */
  #nativeName(meta: number): string {
    const record = (meta + 2) * 4;
    return hostText(this.#bytes!.subarray(record, record + ADDRESS_BYTES));
  }

  /** An IPv4 sender's text, from a bounded cache keyed by its address. */
  #ip4Name(address: number, meta: number): string {
    let name = ip4Names.get(address);
    if (name === undefined) {
      name = this.#nativeName(meta);
      if (ip4Names.size >= IP4_NAMES_MAX) ip4Names.clear();
      ip4Names.set(address, name);
    }
    return name;
  }

  #sender(words: Uint32Array, meta: number): Address {
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
      this.#lastHostname = family === FAMILY_IP4
        ? this.#ip4Name(a0, meta)
        : this.#nativeName(meta);
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
