/**
 * UDP endpoints (evergreen's `io/udp.py`): datagram sockets whose `send`
 * never waits and whose `receive` blocks only the calling task. Built on
 * the native endpoint of `native/udp_native.ts`: this module opens, binds
 * and configures the socket; `_udp_send.ts` and `_udp_receive.ts` move the
 * datagrams (received ones read straight out of a native ring filled in
 * batches, a turn's sends leaving together at its end), and
 * `_udp_address.ts` turns addresses into native records.
 *
 * @module
 */

import { checkInteger } from "../_util.ts";
import { EventLoop } from "../loop/event_loop.ts";
import { blocking } from "../_operation.ts";
import { NativeError } from "../native/errors.ts";
import {
  type Address,
  ADDRESS_BYTES,
  decodeAddress,
  describeAddress,
  FAMILY_IP4,
} from "../native/address.ts";
import {
  BIND_IPV6_ONLY,
  BIND_REUSE_ADDRESS,
  BIND_REUSE_PORT,
  NativeUdpEndpoint,
  type NativeUdpOptions,
  UDP_OPTION,
} from "../native/udp_native.ts";
import {
  UDP_QUEUE_BYTES_DEFAULT,
  UDP_QUEUE_BYTES_MIN,
  UDP_RECEIVE_BATCH_DEFAULT,
  UDP_RECEIVE_BATCH_MAX,
  UDP_RECEIVE_SIZE_DEFAULT,
  UDP_RECEIVE_SIZE_MAX,
} from "../native/constants.ts";
import {
  addressRecord,
  checkOpen,
  describeTarget,
  udpError,
  udpFailure,
} from "./_udp_address.ts";
import { UdpReceiver } from "./_udp_receive.ts";
import { UdpSender } from "./_udp_send.ts";

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

type PendingOption = (native: NativeUdpEndpoint) => number;

// The largest buffer size a socket option takes (a C int).
const I32_MAX = 0x7fff_ffff;

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
 * - `send()` never waits. Inside the loop (in a task or a loop callback)
 *   the sends of a loop turn are queued natively and leave together before
 *   the loop next polls or parks, as a stream's writes do (one sendmmsg on
 *   Linux; a run of datagrams of one size to one address as one segmented
 *   message where the kernel can), so a lone send is not delayed; so do
 *   sends the kernel had no room for. `flush()` waits until the queue is
 *   empty and reports a queued datagram the kernel refused. Outside the
 *   loop every send goes out at once.
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
  // Options set before the socket exists, applied when it is made.
  #pending: PendingOption[] = [];
  #receiver: UdpReceiver;
  #sender: UdpSender;

  /**
   * Creates an unbound endpoint; the socket is made by `bind()` or the
   * first `send()`, on the loop current then.
   *
   * @throws {RangeError} if an option is out of range.
   */
  constructor(options: UDPEndpointOptions = {}) {
    this.#options = {
      receiveSize: checkedInteger(
        options.receiveSize ?? UDP_RECEIVE_SIZE_DEFAULT,
        1,
        UDP_RECEIVE_SIZE_MAX,
        "receiveSize",
      ),
      receiveBatch: powerOfTwoAtLeast(
        checkedInteger(
          options.receiveBatch ?? UDP_RECEIVE_BATCH_DEFAULT,
          1,
          UDP_RECEIVE_BATCH_MAX,
          "receiveBatch",
        ),
      ),
      queueBytesMax: checkedInteger(
        options.maxQueuedBytes ?? UDP_QUEUE_BYTES_DEFAULT,
        UDP_QUEUE_BYTES_MIN,
        0xffff_ffff,
        "maxQueuedBytes",
      ),
    };
    this.#receiver = new UdpReceiver(
      this.#options.receiveSize,
      this.#options.receiveBatch,
    );
    this.#sender = new UdpSender((destination) =>
      this.#native ?? this.#bindImplicitly(destination)
    );
  }

  /** True once {@linkcode UDPEndpoint.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Datagrams waiting in the native send queue: the sends of the current
   * loop turn, and those the kernel's buffer had no room for (0 when every
   * send went out).
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
    checkOpen(this.#closed, this.#loop, what);
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
   * destination's family. Inside the loop the send is queued and leaves
   * with the turn's others (see the class); the kernel's refusal of such a
   * datagram is reported by `flush()`. `data` is copied (or sent) before
   * `send()` returns, so its buffer may be reused at once.
   *
   * @throws {UDPError} `EMSGSIZE` for more than 65507 bytes to an IPv4
   *   address (65527 to IPv6), `EINVAL` for a bad address, `EACCES` for a
   *   broadcast address without `setBroadcast(true)` (outside the loop;
   *   inside, `flush()` reports it), `ENOBUFS` when the send queue is full,
   *   `EBADF` after `close()`.
   * @throws {TypeError} if `data` is neither a `Uint8Array` nor a string.
   */
  send(data: Uint8Array | string, address: Address): void {
    this.#sender.send(data, address);
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
    this.#sender.sendMany(datagrams, address);
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
  receive(): Generator<unknown, [Uint8Array<ArrayBuffer>, Address], unknown> {
    // The bytes are views of ArrayBuffers (never shared memory).
    return this.#receiver.receive() as Generator<
      unknown,
      [Uint8Array<ArrayBuffer>, Address],
      unknown
    >;
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
  receiveMany(
    max?: number,
  ): Generator<unknown, [Uint8Array<ArrayBuffer>, Address][], unknown> {
    return this.#receiver.receiveMany(max) as Generator<
      unknown,
      [Uint8Array<ArrayBuffer>, Address][],
      unknown
    >;
  }

  /**
   * Waits until every queued datagram went to the kernel (at once when
   * nothing is queued), datagrams sent to a host name whose lookup is still
   * running included, then throws the first failure of a queued datagram
   * since the last `flush()`, if any.
   *
   * @throws {UDPError} that failure (`ENOTFOUND` for a name that does not
   *   resolve), or `EBADF` after (or during) `close()`.
   */
  @blocking("flush()")
  flush(): Generator<unknown, void, unknown> {
    return this.#sender.flush();
  }

  /** Allows sending to broadcast addresses (SO_BROADCAST). */
  setBroadcast(on: boolean): void {
    this.#setOption("setBroadcast()", UDP_OPTION.broadcast, on ? 1 : 0);
  }

  /** The hop limit of unicast datagrams (1-255). */
  setTTL(ttl: number): void {
    this.#setOption("setTTL()", UDP_OPTION.ttl, ttl, "ttl", 1, 255);
  }

  /** The hop limit of multicast datagrams (0-255; default 1). */
  setMulticastTTL(ttl: number): void {
    const option = UDP_OPTION.multicastTTL;
    this.#setOption("setMulticastTTL()", option, ttl, "ttl", 0, 255);
  }

  /** Whether this host's own members receive multicast sent from here. */
  setMulticastLoopback(on: boolean): void {
    const option = UDP_OPTION.multicastLoopback;
    this.#setOption("setMulticastLoopback()", option, on ? 1 : 0);
  }

  /** The kernel's receive buffer size in bytes (SO_RCVBUF). */
  setReceiveBufferSize(bytes: number): void {
    const option = UDP_OPTION.receiveBufferSize;
    this.#setOption(
      "setReceiveBufferSize()",
      option,
      bytes,
      "bytes",
      1,
      I32_MAX,
    );
  }

  /** The kernel's send buffer size in bytes (SO_SNDBUF). */
  setSendBufferSize(bytes: number): void {
    const option = UDP_OPTION.sendBufferSize;
    this.#setOption("setSendBufferSize()", option, bytes, "bytes", 1, I32_MAX);
  }

  /**
   * The interface multicast datagrams leave by: an IPv4 address of it, or
   * for IPv6 any address with its zone (`"::%2"`, `"fe80::1%eth0"`).
   *
   * @throws {UDPError} `EINVAL` for an address that is not an IP literal.
   */
  setMulticastInterface(interfaceAddress: string): void {
    const what = `setMulticastInterface(${JSON.stringify(interfaceAddress)})`;
    checkOpen(this.#closed, this.#loop, what);
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
    const wake = loop === null || loop._acceptsCallbacks();
    this.#receiver.close(wake);
    this.#sender.close(wake);
  }

  /** Same as {@linkcode UDPEndpoint.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal Queues a datagram as if the kernel were full (tests). */
  _testEnqueue(data: Uint8Array, address: Address): void {
    this.#sender.testEnqueue(data, address);
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
      throw udpFailure(result, what);
    }
    const sockname = decodeAddress(name);
    this.#sockname = sockname;
    this.#receiver.attach(this.#loop!, native);
    this.#sender.attach(this.#loop!, native, sockname);
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
    if (result < 0) throw udpFailure(result, what);
  }

  /**
   * Sets `option` to `value` for `what`, now or once the socket exists; a
   * value `named` is checked against `min` and `max` first.
   */
  #setOption(
    what: string,
    option: number,
    value: number,
    named?: string,
    min = 0,
    max = 1,
  ): void {
    if (named !== undefined) checkedInteger(value, min, max, named);
    checkOpen(this.#closed, this.#loop, what);
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
    checkOpen(this.#closed, this.#loop, what);
    const groupRecord = addressRecord({ hostname: group, port: 0 }, what);
    const native = this.#native;
    if (native === null) {
      throw udpError("EINVAL", what, "bind() the endpoint first");
    }
    const iface = interfaceAddress ??
      (groupRecord[0] === FAMILY_IP4 ? "0.0.0.0" : "::");
    const ifaceRecord = addressRecord({ hostname: iface, port: 0 }, what);
    const result = native.membership(join, groupRecord, ifaceRecord);
    if (result < 0) throw udpFailure(result, what);
  }
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
