/**
 * UDP endpoints (evergreen's `io/udp.py`): datagram sockets whose `send`
 * never waits and whose `receive` blocks only the calling task. Built on
 * the native endpoint of `native/udp_native.ts`: received datagrams are read
 * straight out of a native ring filled in batches (recvmmsg on Linux); a
 * send goes to the kernel at once, the later sends of the same loop turn
 * leave together at its end (sendmmsg, UDP GSO for runs of one size to one
 * address), and what would block is queued natively.
 *
 * @module
 */

import { Fiber } from "../fiber.ts";
import {
  describe as describeValue,
  EventLoop,
  type Runnable,
} from "../loop.ts";
import { WaitQueue } from "../sync/wait_queue.ts";
import { resolveLater, resolveNow } from "./lookup.ts";
import { StreamError } from "./errors.ts";
import { ERROR_NAMES, NativeError } from "../native/errors.ts";
import {
  type Address,
  ADDRESS_BYTES,
  decodeAddress,
  describeAddress,
  encodeAddress,
  FAMILY_IP4,
} from "../native/address.ts";
import {
  BIND_IPV6_ONLY,
  BIND_REUSE_ADDRESS,
  BIND_REUSE_PORT,
  DATAGRAM_SIZE_MAX,
  NativeUdpEndpoint,
  type NativeUdpOptions,
  SEND_QUEUED,
  SEND_QUEUED_START,
  SEND_SENT,
  UDP_OPTION,
} from "../native/udp_native.ts";
import { errorFor, errorFromResult, UDPError } from "./errors.ts";
import { checkInteger } from "../_util.ts";
import { blocking } from "../_operation.ts";

export type { Address };

/** Sizes of a {@linkcode UDPEndpoint}'s buffers. */
export interface UDPEndpointOptions {
  /**
   * The largest datagram received whole, in bytes (1 to 65536, default
   * 65536). A larger one makes `receive()` throw `EMSGSIZE` and is dropped.
   */
  receiveSize?: number;
  /**
   * Datagrams taken from the kernel per system call (default 64, at most
   * 1024, rounded up to a power of two).
   */
  receiveBatch?: number;
  /**
   * Bytes of unsent datagrams the endpoint may hold while the kernel's
   * buffer is full (default 16 MiB, at least 64 KiB); a send beyond it
   * throws `ENOBUFS`.
   */
  maxQueuedBytes?: number;
}

/** Options of {@linkcode UDPEndpoint.bind}. */
export interface UDPBindOptions {
  /** Let other sockets bind the same address (SO_REUSEADDR). */
  reuseAddress?: boolean;
  /** An IPv6 endpoint that does not receive IPv4 datagrams. */
  ipv6Only?: boolean;
  /**
   * Let endpoints in other Workers or processes bind the same port, the
   * kernel spreading datagrams over them (SO_REUSEPORT; `ENOSYS` on
   * Windows).
   */
  reusePort?: boolean;
}

// The hub resumes parked tasks itself, without Task.switch's check.
const fiberSwitch = Fiber.prototype.switch;

/**
 * A task waiting on the native receive op. It is its own ready-queue entry,
 * so that close() can wake it without allocating.
 */
class ReceiveOp implements Runnable {
  readonly loop: EventLoop;
  readonly fiber: Fiber;
  /** False once the task stopped waiting (woken, killed, timed out). */
  active = true;
  woken = false;
  /** The native op completed with `result`. */
  done = false;
  result = 0;

  constructor(loop: EventLoop, what: string) {
    this.loop = loop;
    this.fiber = loop._blockingFiber(what);
  }

  /** Resumes the task through the ready queue (close). */
  wake(): void {
    if (this.woken) return;
    this.woken = true;
    this.loop._enqueue(this);
  }

  /** Resumes the task at once, from a hub callback (the op's completion). */
  resume(): unknown {
    if (this.woken || !this.active) return undefined;
    this.woken = true;
    return fiberSwitch.call(this.fiber);
  }

  _fire(): unknown {
    return this.active ? fiberSwitch.call(this.fiber) : undefined;
  }
}

type PendingOption = (native: NativeUdpEndpoint) => number;

const DEFAULT_RECEIVE_SIZE = 65536;
const DEFAULT_RECEIVE_BATCH = 64;
const MAX_RECEIVE_BATCH = 1024;
const DEFAULT_MAX_QUEUED_BYTES = 16 << 20;
const MIN_MAX_QUEUED_BYTES = 65536;

const ECANCELED = code("ECANCELED");
// Staged datagrams that make send() send them at once, turn or not.
const STAGED_MAX = 1024;

/**
 * A UDP endpoint. `bind()` it to receive, or just `send()`: the first send
 * binds it to an ephemeral port on the destination's address family.
 * Addresses are IP literals (`"127.0.0.1"`, `"::1"`), `"localhost"`
 * (127.0.0.1) or host names, resolved once per process (first address) and
 * cached: `send()` to a name not resolved yet starts the lookup off the JS
 * thread and sends once it ends (64 datagrams kept per name meanwhile; a
 * name that does not resolve fails the next `send()` to it with
 * `ENOTFOUND`); `bind()` and `sendMany()`, which answer at once, wait for
 * the resolver on the JS thread the first time (`yield* lookup(name)`
 * first to avoid that).
 *
 * - `send()` never waits. The first send of a loop turn goes to the kernel
 *   at once; while the loop runs, the turn's later sends are queued natively
 *   and leave together when the work queued before them is done (one
 *   sendmmsg on Linux; a run of datagrams of one size to one address as one
 *   segmented message where the kernel can), as do sends the kernel had no
 *   room for. `flush()` waits until the queue is empty and reports a queued
 *   datagram the kernel refused.
 *   Outside a running loop every send goes out at once.
 * - `receive()` returns one datagram with its boundaries kept, as
 *   `[bytes, { hostname, port }]`; a datagram larger than `receiveSize`
 *   throws `UDPError` `EMSGSIZE` (and is dropped; the next receive goes on).
 * - `sendMany()`/`receiveMany()` move many datagrams per system call
 *   (sendmmsg/recvmmsg on Linux).
 * - `close()` is idempotent; a task blocked in `receive()` or `flush()` is
 *   woken with `UDPError` code `"EBADF"`, as is any later use.
 *
 * @example
 * ```ts
 * import { describe as describeValue, EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 * import { UDPEndpoint } from "./udp.ts";
 *
 * using loop = new EventLoop();
 * using server = new UDPEndpoint();
 * server.bind({ hostname: "127.0.0.1", port: 0 });
 * spawn(function* () {
 *   const [data, sender] = yield* server.receive();
 *   server.send(data, sender); // echo
 * });
 * spawn(function* () {
 *   using client = new UDPEndpoint();
 *   client.send("ping", server.sockname);
 *   const [reply] = yield* client.receive();
 *   console.log(new TextDecoder().decode(reply)); // ping
 * });
 * await loop.run();
 * ```
 */
export class UDPEndpoint implements Disposable {
  #options: NativeUdpOptions;
  #loop: EventLoop | null = null;
  #native: NativeUdpEndpoint | null = null;
  #closed = false;
  #sockname: Address | null = null;
  #pending: PendingOption[] = [];
  #receiveOp: ReceiveOp | null = null;
  // Tasks receiving while another one waits on the native receive op.
  #receivers = new WaitQueue();
  // Woken by every send op completion, each rechecks the queue.
  #flushers = new WaitQueue(() => {});
  #sendError: UDPError | null = null;
  // Send ops whose completion has not been handled yet: flush() waits for
  // them too, so that a failure they report is not missed.
  #sendOpsLive = 0;
  // Datagrams sent to a host name whose lookup is still running, per name.
  #awaitingNames = new Map<string, { bytes: Uint8Array; port: number }[]>();
  #later = (hostname: string): string | undefined => {
    const loop = this.#loop ?? EventLoop.current();
    const found = resolveLater(
      loop,
      hostname,
      () => this.#nameResolved(hostname),
    );
    if (found instanceof StreamError) throw found;
    return found;
  };
  // A send went out in this turn of the running loop: later ones are
  // staged natively until #turnEnd runs (before the loop next polls, the
  // hook streams use for their coalesced writes).
  #batching = false;
  #staged = 0;
  #turnEnd = (): void => {
    this.#batching = false;
    if (this.#staged > 0) this.#sendStaged();
  };

  /**
   * Creates an unbound endpoint; the socket is made by `bind()` or the
   * first `send()`, on the loop current then.
   *
   * @throws {RangeError} if an option is out of range.
   */
  constructor(options: UDPEndpointOptions = {}) {
    this.#options = {
      receiveSize: checkedInteger(
        options.receiveSize ?? DEFAULT_RECEIVE_SIZE,
        1,
        DEFAULT_RECEIVE_SIZE,
        "receiveSize",
      ),
      receiveBatch: powerOfTwoAtLeast(
        checkedInteger(
          options.receiveBatch ?? DEFAULT_RECEIVE_BATCH,
          1,
          MAX_RECEIVE_BATCH,
          "receiveBatch",
        ),
      ),
      queueBytesMax: checkedInteger(
        options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES,
        MIN_MAX_QUEUED_BYTES,
        0xffff_ffff,
        "maxQueuedBytes",
      ),
    };
  }

  /** True once {@linkcode UDPEndpoint.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Datagrams waiting in the native send queue: the later sends of the
   * current loop turn, and those the kernel's buffer had no room for (0 when
   * every send went out).
   */
  get queued(): number {
    const native = this.#native;
    if (native === null || this.#closed) return 0;
    return Math.max(0, native.queued());
  }

  /**
   * The bound address, computed once at bind time; still readable after
   * `close()`.
   *
   * @throws {UDPError} `EINVAL` if the endpoint was never bound.
   */
  get sockname(): Address {
    const name = this.#sockname;
    if (name === null) {
      throw udpError(
        "EINVAL",
        "sockname",
        "the endpoint is not bound: bind() it or send() from it first",
      );
    }
    return { hostname: name.hostname, port: name.port };
  }

  /**
   * Binds to a local address (port 0: an ephemeral port).
   *
   * @throws {UDPError} `EADDRINUSE` when the address is taken, `EINVAL` for
   *   an address that is not an IP literal, a port outside 0-65535, or an
   *   endpoint that is already bound; `EBADF` after `close()`.
   * @throws {TypeError} if `address` is not `{ hostname, port }`.
   */
  bind(address: Address, options: UDPBindOptions = {}): void {
    const what = `bind to ${describeTarget(address)}`;
    this.#checkOpen(what);
    const record = addressRecord(address, what);
    if (this.#native !== null) {
      throw udpError(
        "EINVAL",
        what,
        `the endpoint is already bound to ${describeAddress(this.#sockname!)}`,
      );
    }
    const flags = (options.reuseAddress ? BIND_REUSE_ADDRESS : 0) |
      (options.ipv6Only ? BIND_IPV6_ONLY : 0) |
      (options.reusePort ? BIND_REUSE_PORT : 0);
    this.#bindTo(record, flags, what);
  }

  /**
   * Sends one datagram (a string is sent as UTF-8) without waiting. An
   * unbound endpoint is bound first to an ephemeral port on the
   * destination's family. A later send of the same loop turn is queued and
   * leaves with the turn's others (see the class); the kernel's refusal of
   * such a datagram is reported by `flush()`.
   *
   * @throws {UDPError} `EMSGSIZE` for more than 65507 bytes to an IPv4
   *   address (65527 to IPv6), `EINVAL` for a bad address, `EACCES` for a
   *   broadcast address without `setBroadcast(true)` (the turn's first
   *   send), `ENOBUFS` when the send queue is full, `EBADF` after
   *   `close()`.
   * @throws {TypeError} if `data` is neither a `Uint8Array` nor a string.
   */
  send(data: Uint8Array | string, address: Address): void {
    this.#checkOpen("send()");
    const bytes = typeof data === "string"
      ? encodeText(data)
      : checkedBytes(data, "send()");
    const record = addressRecordOrPending(address, "send()", this.#later);
    if (record === null) {
      this.#awaitName(address, bytes);
      return;
    }
    const native = this.#native ?? this.#bindImplicitly(record);
    let status: number;
    // A loop stopped before the turn's end leaves #batching set: sends made
    // after run() returned go out at once, behind what the turn queued.
    if (this.#batching && this.#loop!.running) {
      // Not the turn's first: it leaves with the others at the turn's end.
      status = native.stage(bytes, record);
      if (status >= 0) {
        if (++this.#staged >= STAGED_MAX) this.#sendStaged();
        return;
      }
    } else {
      status = native.send(bytes, record);
      const loop = this.#loop!;
      if (status >= 0 && loop.running && loop._acceptsCallbacks()) {
        this.#batching = true;
        loop._beforePoll(this.#turnEnd);
      }
    }
    if (status === SEND_SENT || status === SEND_QUEUED) return;
    if (status === SEND_QUEUED_START) return this.#startSendOp("send()");
    throw failure(
      status,
      `send of ${bytes.length} bytes to ${describeTarget(address)}`,
      sendDetail(status, native),
    );
  }

  /**
   * Sends many datagrams to one address, in order, with as few system calls
   * as the OS allows (sendmmsg batches on Linux). Never waits, like `send`.
   *
   * @throws {UDPError} as `send()` does; sizes are checked before anything
   *   is sent. A datagram the kernel refuses for good is dropped and
   *   reported after the others were sent.
   * @throws {TypeError} if `datagrams` is not an array of `Uint8Array`s and
   *   strings.
   */
  sendMany(
    datagrams: readonly (Uint8Array | string)[],
    address: Address,
  ): void {
    this.#checkOpen("sendMany()");
    if (!Array.isArray(datagrams)) {
      throw new TypeError(
        `sendMany() needs an array of datagrams, got ${
          describeValue(datagrams)
        }`,
      );
    }
    const record = addressRecord(address, "sendMany()");
    const payloads = packPayloads;
    payloads.length = 0;
    for (const datagram of datagrams) {
      const bytes = typeof datagram === "string"
        ? encoder.encode(datagram)
        : checkedBytes(datagram, "sendMany()");
      if (bytes.length > DATAGRAM_SIZE_MAX) {
        const index = payloads.length;
        payloads.length = 0;
        throw udpError(
          "EMSGSIZE",
          `sendMany() to ${describeTarget(address)}`,
          `datagram ${index} has ${bytes.length} bytes, more than ${DATAGRAM_SIZE_MAX}; nothing was sent`,
        );
      }
      payloads.push(bytes);
    }
    if (payloads.length === 0) return;
    const native = this.#native ?? this.#bindImplicitly(record);
    const what = `sendMany() to ${describeTarget(address)}`;
    let count = 0;
    let used = 0;
    try {
      for (const bytes of payloads) {
        if (count === PACK_COUNT || used + bytes.length > packData.length) {
          this.#sendPacked(native, used, count, record, what);
          count = 0;
          used = 0;
        }
        packData.set(bytes, used);
        packLengths[count++] = bytes.length;
        used += bytes.length;
      }
      this.#sendPacked(native, used, count, record, what);
    } finally {
      payloads.length = 0;
    }
  }

  /**
   * Receives one datagram: `[bytes, sender]`. Blocks the calling task until
   * one arrives. The bytes are the caller's: a datagram under 4 KiB is a
   * view of a shared 8 KiB buffer (as Node's small `Buffer`s are), so
   * `bytes.slice()` one that is kept for long if memory matters.
   *
   * @throws {UDPError} `EMSGSIZE` for a datagram larger than `receiveSize`
   *   (it is dropped), `EINVAL` on an endpoint that is not bound, `EBADF`
   *   after (or during) `close()`.
   */
  @blocking("receive()")
  *receive(): Generator<unknown, [Uint8Array, Address], unknown> {
    const native = this.#receiving("receive()");
    // Each round takes a datagram or waits for the kernel to have some.
    for (;;) {
      if (native.pending() > 0) return this.#take(native, "receive()");
      yield* this.#awaitDatagrams(native, "receive()");
    }
  }

  /**
   * Receives the datagrams that are there, at least one and at most `max`
   * (default: the `receiveBatch` option), blocking only while there are
   * none. The datagrams of one call are views of one new buffer (one copy
   * and one allocation per batch).
   *
   * @throws {UDPError} as `receive()` does; a datagram too large is
   *   reported by the call that would return it first.
   * @throws {RangeError} if `max` is not a positive integer.
   */
  @blocking("receiveMany()")
  *receiveMany(
    max: number = this.#options.receiveBatch,
  ): Generator<unknown, [Uint8Array, Address][], unknown> {
    checkedInteger(max, 1, Number.MAX_SAFE_INTEGER, "max");
    const native = this.#receiving("receiveMany()");
    for (;;) {
      if (native.pending() > 0) {
        const datagrams: [Uint8Array, Address][] = [];
        // Stops before a datagram that did not fit, unless it comes first.
        if (native.takeMany(max, datagrams) === 0) {
          datagrams.push(this.#take(native, "receiveMany()"));
        }
        return datagrams;
      }
      yield* this.#awaitDatagrams(native, "receiveMany()");
    }
  }

  /**
   * Waits until every queued datagram went to the kernel (at once when
   * nothing is queued), then throws the first failure of a queued datagram
   * since the last `flush()`, if any.
   *
   * @throws {UDPError} that failure, or `EBADF` after (or during) `close()`.
   */
  @blocking("flush()")
  *flush(): Generator<unknown, void, unknown> {
    this.#checkOpen("flush()");
    const native = this.#native;
    // Each round waits for one send op to finish; ops end with an empty queue.
    while (native !== null) {
      const queued = native.queued();
      if (queued < 0) throw failure(queued, "flush()");
      if (queued === 0 && this.#sendOpsLive === 0) break;
      if (queued > 0) this.#startSendOp("flush()");
      yield* this.#flushers.wait(undefined, "flush()");
      this.#checkOpen("flush()");
    }
    const error = this.#sendError;
    if (error !== null) {
      this.#sendError = null;
      throw error;
    }
  }

  /** Allows sending to broadcast addresses (SO_BROADCAST). */
  setBroadcast(on: boolean): void {
    this.#setOption(UDP_OPTION.broadcast, on ? 1 : 0, "setBroadcast()");
  }

  /** The hop limit of unicast datagrams (1-255). */
  setTTL(ttl: number): void {
    this.#setOption(
      UDP_OPTION.ttl,
      checkedInteger(ttl, 1, 255, "ttl"),
      "setTTL()",
    );
  }

  /** The hop limit of multicast datagrams (0-255; default 1). */
  setMulticastTTL(ttl: number): void {
    this.#setOption(
      UDP_OPTION.multicastTTL,
      checkedInteger(ttl, 0, 255, "ttl"),
      "setMulticastTTL()",
    );
  }

  /** Whether this host's own members receive multicast sent from here. */
  setMulticastLoopback(on: boolean): void {
    this.#setOption(
      UDP_OPTION.multicastLoopback,
      on ? 1 : 0,
      "setMulticastLoopback()",
    );
  }

  /** The kernel's receive buffer size in bytes (SO_RCVBUF). */
  setReceiveBufferSize(bytes: number): void {
    this.#setOption(
      UDP_OPTION.receiveBufferSize,
      checkedInteger(bytes, 1, 0x7fff_ffff, "bytes"),
      "setReceiveBufferSize()",
    );
  }

  /** The kernel's send buffer size in bytes (SO_SNDBUF). */
  setSendBufferSize(bytes: number): void {
    this.#setOption(
      UDP_OPTION.sendBufferSize,
      checkedInteger(bytes, 1, 0x7fff_ffff, "bytes"),
      "setSendBufferSize()",
    );
  }

  /**
   * The interface multicast datagrams leave by: an IPv4 address of it, or
   * for IPv6 any address with its zone (`"::%2"`, `"fe80::1%eth0"`).
   *
   * @throws {UDPError} `EINVAL` for an address that is not an IP literal.
   */
  setMulticastInterface(interfaceAddress: string): void {
    const what = `setMulticastInterface(${JSON.stringify(interfaceAddress)})`;
    this.#checkOpen(what);
    const record = addressRecord(
      { hostname: interfaceAddress, port: 0 },
      what,
    );
    this.#whenOpen((native) => native.multicastInterface(record), what);
  }

  /**
   * Joins a multicast group on an interface (IPv4: an address of the
   * interface; IPv6: an address with the interface's zone; omitted: the OS
   * chooses). The endpoint must be bound.
   *
   * @throws {UDPError} `EINVAL` for a group that is not multicast or an
   *   unbound endpoint; the OS's error when it refuses.
   */
  joinMulticast(group: string, interfaceAddress?: string): void {
    this.#membership(true, group, interfaceAddress);
  }

  /** Leaves a group joined with {@linkcode UDPEndpoint.joinMulticast}. */
  leaveMulticast(group: string, interfaceAddress?: string): void {
    this.#membership(false, group, interfaceAddress);
  }

  /**
   * Closes the endpoint: queued datagrams get one last try without waiting
   * (use `flush()` first to be sure they are out), and tasks blocked in
   * `receive()` or `flush()` are woken with `UDPError` `EBADF`. A second
   * call does nothing.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native?.close();
    const loop = this.#loop;
    if (loop !== null && !loop._acceptsCallbacks()) return;
    this.#receiveOp?.wake();
    this.#receivers.notifyAll();
    this.#flushers.notifyAll();
  }

  /** Same as {@linkcode UDPEndpoint.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal Queues a datagram as if the kernel were full (tests). */
  _testEnqueue(data: Uint8Array, address: Address): void {
    this.#checkOpen("_testEnqueue()");
    const record = addressRecord(address, "_testEnqueue()");
    const native = this.#native ?? this.#bindImplicitly(record);
    const status = native.testEnqueue(data, record);
    if (status === SEND_QUEUED_START) this.#startSendOp("_testEnqueue()");
    else if (status < 0) throw failure(status, "_testEnqueue()");
  }

  // ---- binding ----

  #open(family: number, what: string): NativeUdpEndpoint {
    const loop = EventLoop.current();
    let native: NativeUdpEndpoint;
    try {
      native = new NativeUdpEndpoint(loop._native, family, this.#options);
    } catch (error) {
      if (!(error instanceof NativeError)) throw error;
      throw udpError(error.code, what, error.message);
    }
    this.#loop = loop;
    this.#native = native;
    return native;
  }

  #bindTo(record: Uint8Array, flags: number, what: string): NativeUdpEndpoint {
    const native = this.#open(record[0], what);
    let result = native.bind(record, flags);
    if (result >= 0) result = this.#applyPending(native);
    const name = new Uint8Array(ADDRESS_BYTES);
    if (result >= 0) result = native.sockname(name);
    if (result < 0) {
      native.close();
      this.#native = null;
      this.#loop = null;
      throw failure(result, what);
    }
    this.#sockname = decodeAddress(name);
    return native;
  }

  #bindImplicitly(destination: Uint8Array): NativeUdpEndpoint {
    const family = destination[0];
    const any = addressRecord(
      { hostname: family === FAMILY_IP4 ? "0.0.0.0" : "::", port: 0 },
      "bind",
    );
    return this.#bindTo(
      any,
      0,
      `implicit bind (first send) to ${
        family === FAMILY_IP4 ? "0.0.0.0" : "[::]"
      }:0`,
    );
  }

  #applyPending(native: NativeUdpEndpoint): number {
    for (const apply of this.#pending) {
      const result = apply(native);
      if (result < 0) return result;
    }
    this.#pending = [];
    return 0;
  }

  #whenOpen(apply: PendingOption, what: string): void {
    const native = this.#native;
    if (native === null) {
      this.#pending.push(apply);
      return;
    }
    const result = apply(native);
    if (result < 0) throw failure(result, what);
  }

  #setOption(option: number, value: number, what: string): void {
    this.#checkOpen(what);
    this.#whenOpen((native) => native.setOption(option, value), what);
  }

  #membership(
    join: boolean,
    group: string,
    interfaceAddress: string | undefined,
  ): void {
    const what = `${join ? "joinMulticast" : "leaveMulticast"}(${
      JSON.stringify(group)
    })`;
    this.#checkOpen(what);
    const groupRecord = addressRecord({ hostname: group, port: 0 }, what);
    const native = this.#native;
    if (native === null) {
      throw udpError("EINVAL", what, "bind() the endpoint first");
    }
    const iface = interfaceAddress ??
      (groupRecord[0] === FAMILY_IP4 ? "0.0.0.0" : "::");
    const ifaceRecord = addressRecord({ hostname: iface, port: 0 }, what);
    const result = native.membership(join, groupRecord, ifaceRecord);
    if (result < 0) throw failure(result, what);
  }

  // ---- receiving ----

  #receiving(what: string): NativeUdpEndpoint {
    this.#checkOpen(what);
    const native = this.#native;
    if (native === null) {
      throw udpError(
        "EINVAL",
        what,
        "the endpoint is not bound: bind() it or send() from it first",
      );
    }
    const result = native.mapRing();
    if (result < 0) throw failure(result, what);
    return native;
  }

  #take(native: NativeUdpEndpoint, what: string): [Uint8Array, Address] {
    const size = native.truncatedSize();
    if (size < 0) return native.take();
    const sender = native.dropNext();
    const limit = this.#options.receiveSize;
    throw udpError(
      "EMSGSIZE",
      what,
      `a datagram of ${
        size > limit ? `${size}` : `more than ${limit}`
      } bytes from ${
        describeAddress(sender)
      } did not fit the receive size of ${limit} bytes and was dropped; raise the receiveSize option`,
    );
  }

  /** Returns once datagrams are buffered (or another receiver took them). */
  *#awaitDatagrams(
    native: NativeUdpEndpoint,
    what: string,
  ): Generator<unknown, void, unknown> {
    if (this.#receiveOp !== null) {
      yield* this.#receivers.wait(undefined, what);
      this.#checkOpen(what);
      return;
    }
    const loop = this.#loop!;
    let op: ReceiveOp | null = null;
    const token = loop._registerToken(
      (result: number) => this.#receiveDone(loop, token, op, result),
      true,
      // The loop was destroyed first: nobody is receiving any more.
      () => {
        if (this.#receiveOp === op) this.#receiveOp = null;
      },
    );
    // Fills the ring if the kernel has datagrams, else starts the op.
    const started = native.receive(token);
    if (started !== 0) {
      loop._releaseToken(token);
      if (started > 0) return;
      throw failure(started, what);
    }
    try {
      op = new ReceiveOp(loop, `UDPEndpoint.${what}`);
    } catch (error) {
      // Not in a task: nothing may wait, the op completes canceled.
      native.cancelReceive();
      throw error;
    }
    this.#receiveOp = op;
    try {
      // Resumed by something else (a user callback), it waits again.
      while (!op.woken) yield* loop.switch();
    } finally {
      op.active = false;
      this.#receiveOp = null;
      // Killed or timed out while waiting: the op completes with ECANCELED
      // and its token is released then.
      if (!op.done && !this.#closed) native.cancelReceive();
      this.#receivers.notify(1);
    }
    this.#checkOpen(what);
    if (op.result < 0) throw failure(op.result, what);
  }

  #receiveDone(
    loop: EventLoop,
    token: number,
    op: ReceiveOp | null,
    result: number,
  ): unknown {
    loop._releaseToken(token);
    if (op === null) return undefined;
    op.done = true;
    op.result = result;
    return op.resume();
  }

  // ---- sending ----

  #sendPacked(
    native: NativeUdpEndpoint,
    used: number,
    count: number,
    record: Uint8Array,
    what: string,
  ): void {
    const status = native.sendMany(
      packData,
      used,
      packLengthBytes,
      count,
      record,
    );
    if (status === SEND_SENT || status === SEND_QUEUED) return;
    if (status === SEND_QUEUED_START) return this.#startSendOp(what);
    // Datagrams after the failed one were sent or queued: keep them going.
    this.#startSendOp(what);
    throw failure(status, what, sendDetail(status, native));
  }

  /** Sends the staged datagrams (sendmmsg, segmented runs) without waiting. */
  #sendStaged(): void {
    this.#staged = 0;
    if (this.#closed) return;
    const status = this.#native!.sendQueued();
    if (status === SEND_SENT || status === SEND_QUEUED) return;
    if (status !== SEND_QUEUED_START && !this.#closed) {
      this.#sendError ??= failure(
        status,
        `sending queued datagram(s) from ${describeAddress(this.#sockname!)}`,
      );
    }
    // The kernel is full, or datagrams after the failed one may wait.
    this.#startSendOp("send()");
  }

  #startSendOp(what: string): void {
    const loop = this.#loop!;
    const token = loop._registerToken(
      (result: number, _kind, aux: number) =>
        this.#sendDone(token, result, aux),
      true,
      () => this.#sendOpsLive--,
    );
    const started = this.#native!.flushStart(token);
    if (started === 1) {
      this.#sendOpsLive++;
      return;
    }
    loop._releaseToken(token);
    if (started < 0) throw failure(started, what);
  }

  #sendDone(token: number, result: number, failed: number): void {
    this.#loop!._releaseToken(token);
    this.#sendOpsLive--;
    if (result < 0 && result !== -ECANCELED && !this.#closed) {
      this.#sendError ??= failure(
        result,
        `sending ${failed} queued datagram(s) from ${
          describeAddress(this.#sockname!)
        }`,
      );
    }
    this.#flushers.notifyAll();
  }

  #awaitName(address: Address, bytes: Uint8Array): void {
    let queue = this.#awaitingNames.get(address.hostname);
    if (queue === undefined) {
      queue = [];
      this.#awaitingNames.set(address.hostname, queue);
    }
    // Datagrams may be dropped: past the bound, the oldest go first.
    if (queue.length >= AWAITING_NAME_DATAGRAMS_MAX) queue.shift();
    queue.push({ bytes: bytes.slice(), port: address.port });
  }

  #nameResolved(hostname: string): void {
    const queue = this.#awaitingNames.get(hostname);
    this.#awaitingNames.delete(hostname);
    if (queue === undefined || this.#closed) return;
    for (const { bytes, port } of queue) {
      try {
        this.send(bytes, { hostname, port });
      } catch (error) {
        this.#sendError ??= error instanceof UDPError
          ? error
          : udpError("EINVAL", `send to ${hostname}`, String(error));
        return;
      }
    }
  }

  #checkOpen(what: string): void {
    if (this.#closed) {
      throw udpError("EBADF", what, "the endpoint is closed");
    }
    if (this.#loop?._destroyed) {
      throw udpError(
        "EBADF",
        what,
        "the UDPEndpoint cannot be used: its loop was destroyed",
      );
    }
  }
}

// ---- addresses ----

// Records of recently used addresses, so that a send to the same
// destination parses nothing. Bounded: cleared when full.
const RECORD_CACHE_SIZE = 1024;
const records = new Map<string, Uint8Array>();
let lastHostname = "";
let lastPort = -1;
let lastRecord: Uint8Array | null = null;

/** Datagrams kept per host name while its lookup runs. */
const AWAITING_NAME_DATAGRAMS_MAX = 64;

/**
 * The native record of an address, a host name resolved at once (blocking
 * the thread the first time; cached for the process).
 */
function addressRecord(address: Address, what: string): Uint8Array {
  return addressRecordOrPending(address, what, resolveNow)!;
}

/**
 * The native record of an address; cached per hostname and port. A host
 * name is resolved by `resolve`; one that answers `undefined` (a lookup
 * started) makes this answer null.
 */
function addressRecordOrPending(
  address: Address,
  what: string,
  resolve: (hostname: string) => string | undefined,
): Uint8Array | null {
  if (typeof address !== "object" || address === null) {
    throw new TypeError(
      `${what}: the address must be { hostname, port }, got ${
        describeValue(address)
      }`,
    );
  }
  const { hostname, port } = address;
  if (hostname === lastHostname && port === lastPort) return lastRecord!;
  if (typeof hostname !== "string") {
    throw new TypeError(
      `${what}: hostname must be a string, got ${describeValue(hostname)}`,
    );
  }
  if (typeof port !== "number") {
    throw new TypeError(
      `${what}: port must be a number, got ${describeValue(port)}`,
    );
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw udpError(
      "EINVAL",
      what,
      `invalid port ${port}: an integer from 0 to 65535`,
    );
  }
  const key = `${port} ${hostname}`;
  let record = records.get(key);
  if (record === undefined) {
    record = new Uint8Array(ADDRESS_BYTES);
    // "localhost" is the one name taken without resolving (as by
    // TCPServer.bind); any other host name goes to `resolve`.
    let family = encodeAddress(hostname, port, record);
    if (family < 0 && isHostName(hostname)) {
      let ip: string | undefined;
      try {
        ip = resolve(hostname);
      } catch (error) {
        if (!(error instanceof StreamError)) throw error;
        throw udpError(error.code, what, error.message);
      }
      if (ip === undefined) return null;
      family = encodeAddress(ip, port, record);
    }
    if (family < 0) {
      throw failure(
        family,
        what,
        `${JSON.stringify(hostname)} is not an IP address or a host name`,
      );
    }
    if (records.size >= RECORD_CACHE_SIZE) records.clear();
    records.set(key, record);
  }
  lastHostname = hostname;
  lastPort = port;
  lastRecord = record;
  return record;
}

/** A DNS name's shape: labels of letters, digits, hyphens and underscores. */
function isHostName(text: string): boolean {
  return text.length > 0 && text.length <= 253 && !text.includes(":") &&
    /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/.test(text) &&
    !/^[0-9.]+$/.test(text);
}

function describeTarget(address: Address): string {
  if (typeof address !== "object" || address === null) {
    return describeValue(address);
  }
  return describeAddress(address);
}

// ---- bytes ----

const encoder = new TextEncoder();
let textScratch = new Uint8Array(4096);

/** UTF-8 bytes of a string, in a scratch buffer valid until the next call. */
function encodeText(text: string): Uint8Array {
  // UTF-8 needs at most 3 bytes per UTF-16 unit.
  if (text.length * 3 > textScratch.length) {
    if (text.length * 3 > DATAGRAM_SIZE_MAX * 3) return encoder.encode(text);
    textScratch = new Uint8Array(text.length * 3);
  }
  const { written } = encoder.encodeInto(text, textScratch);
  return textScratch.subarray(0, written);
}

function checkedBytes(data: unknown, what: string): Uint8Array {
  if (data instanceof Uint8Array) return data;
  throw new TypeError(
    `${what}: data must be a Uint8Array or a string, got ${
      describeValue(data)
    }`,
  );
}

// sendMany packs datagrams here and hands them to native code in one call.
const PACK_COUNT = 1024;
const packData = new Uint8Array(256 * 1024);
const packLengths = new Uint32Array(PACK_COUNT);
const packLengthBytes = new Uint8Array(packLengths.buffer);
const packPayloads: Uint8Array[] = [];

// ---- errors and arguments ----

/** The UDPError of a native result (`-code`) for `what`. */
function failure(result: number, what: string, detail?: string): UDPError {
  return errorFromResult(UDPError, result, what, detail) as UDPError;
}

/** The UDPError with `code` for `what`. */
function udpError(code: string, what: string, detail: string): UDPError {
  return errorFor(UDPError, code, what, detail) as UDPError;
}

/** Why a send failed, where the code alone does not say. */
function sendDetail(
  result: number,
  native: NativeUdpEndpoint,
): string | undefined {
  switch (ERROR_NAMES[-result]) {
    case "EACCES":
      return "sending to a broadcast address needs setBroadcast(true)";
    case "EAFNOSUPPORT":
      return `the endpoint is bound to ${
        native.family === FAMILY_IP4 ? "IPv4" : "IPv6"
      }`;
    case "ENOBUFS":
      return "the send queue is full: flush() first or raise maxQueuedBytes";
    default:
      return undefined;
  }
}

function code(name: string): number {
  const errno = ERROR_NAMES.indexOf(name);
  if (errno <= 0) throw new Error(`unknown error name ${name}`);
  return errno;
}

function checkedInteger(
  value: number,
  min: number,
  max: number,
  name: string,
): number {
  return checkInteger(value, "UDPEndpoint", name, min, max);
}

function powerOfTwoAtLeast(value: number): number {
  let power = 1;
  while (power < value) power *= 2;
  return power;
}
