/**
 * The sending half of a `UDPEndpoint` (`udp.ts`): the sends of a loop turn
 * are staged natively and leave together before the loop next polls (the
 * hook streams use for their coalesced writes: sendmmsg, UDP GSO for runs of
 * one size to one address), a send outside the loop goes to the kernel at
 * once, and what would block is queued natively and drained by a send op
 * that `flush()` waits for. Sends to a host name not resolved yet wait for its
 * lookup here.
 *
 * @module
 */

import { describe as describeValue } from "../_util.ts";
import { EventLoop } from "../loop/event_loop.ts";
import { WaitQueue } from "../sync/wait_queue.ts";
import { resolveLater } from "./lookup.ts";
import { StreamError, UDPError } from "./errors.ts";
import { ERROR_NAMES } from "../native/errors.ts";
import {
  type Address,
  describeAddress,
  FAMILY_IP4,
} from "../native/address.ts";
import {
  DATAGRAM_SIZE_MAX,
  type NativeUdpEndpoint,
  SEND_QUEUED,
  SEND_QUEUED_START,
  SEND_SENT,
} from "../native/udp_native.ts";
import {
  addressRecord,
  addressRecordOrPending,
  checkOpen,
  describeTarget,
  udpError,
  udpFailure,
} from "./_udp_address.ts";

const ECANCELED = ERROR_NAMES.indexOf("ECANCELED");
// Staged datagrams that make send() send them at once, turn or not.
const STAGED_MAX = 1024;
/** Datagrams kept per host name while its lookup runs. */
const AWAITING_NAME_DATAGRAMS_MAX = 64;

/**
 * @internal The send side of one endpoint: `send()`, `sendMany()`,
 * `flush()`, the turn's staged sends and the native send op.
 *
 * @example
 * ```ts ignore
 * const sender = new UdpSender((destination) => openSocketFor(destination));
 * sender.send("ping", { hostname: "127.0.0.1", port: 9 });
 * yield* sender.flush();
 * ```
 */
export class UdpSender {
  // Opens (binds) the socket for a first send to `destination`, and calls
  // attach() before it returns.
  #open: (destination: Uint8Array) => NativeUdpEndpoint;
  #loop: EventLoop | null = null;
  #native: NativeUdpEndpoint | null = null;
  #sockname: Address | null = null;
  #closed = false;
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
  // Sends made inside the loop (in a task or a loop callback) are staged
  // natively and leave together when #turnEnd runs, before the loop next
  // polls or parks (the hook streams use for their coalesced writes).
  #turnEndScheduled = false;
  #staged = 0;
  #turnEnd = (): void => {
    this.#turnEndScheduled = false;
    if (this.#staged > 0) this.#sendStaged();
  };

  /** `open` binds the socket for a first send (see the field). */
  constructor(open: (destination: Uint8Array) => NativeUdpEndpoint) {
    this.#open = open;
  }

  /** The socket is open on `loop`, bound to `sockname`. */
  attach(loop: EventLoop, native: NativeUdpEndpoint, sockname: Address): void {
    this.#loop = loop;
    this.#native = native;
    this.#sockname = sockname;
  }

  /** See `UDPEndpoint.send`. */
  send(data: Uint8Array | string, address: Address): void {
    checkOpen(this.#closed, this.#loop, "send()");
    const bytes = typeof data === "string"
      ? encodeText(data)
      : checkedBytes(data, "send()");
    const record = addressRecordOrPending(address, "send()", this.#later);
    if (record === null) {
      this.#awaitName(address, bytes);
      return;
    }
    const native = this.#native ?? this.#open(record);
    const loop = this.#loop!;
    let status: number;
    if (loop._inTurn) {
      // It leaves with the turn's other sends, before the loop polls.
      status = native.stage(bytes, record);
      if (status >= 0) {
        if (!this.#turnEndScheduled) {
          this.#turnEndScheduled = true;
          loop._beforePoll(this.#turnEnd);
        }
        if (++this.#staged >= STAGED_MAX) this.#sendStaged();
        return;
      }
    } else {
      // Outside the loop nothing would send it later: it goes now (behind
      // what is queued, if anything is).
      status = native.send(bytes, record);
    }
    if (status === SEND_SENT || status === SEND_QUEUED) return;
    if (status === SEND_QUEUED_START) return this.#startSendOp("send()");
    throw udpFailure(
      status,
      `send of ${bytes.length} bytes to ${describeTarget(address)}`,
      sendDetail(status, native),
    );
  }

  /** See `UDPEndpoint.sendMany`. */
  sendMany(
    datagrams: readonly (Uint8Array | string)[],
    address: Address,
  ): void {
    checkOpen(this.#closed, this.#loop, "sendMany()");
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
    const native = this.#native ?? this.#open(record);
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

  /** See `UDPEndpoint.flush`. */
  *flush(): Generator<unknown, void, unknown> {
    checkOpen(this.#closed, this.#loop, "flush()");
    // Datagrams waiting for their host name's lookup are not out yet
    // (#nameResolved sends them, or records the lookup's failure).
    while (this.#awaitingNames.size > 0) {
      yield* this.#flushers.wait(undefined, "flush()");
      checkOpen(this.#closed, this.#loop, "flush()");
    }
    const native = this.#native;
    // This turn's sends go now; what the kernel has no room for waits.
    if (this.#staged > 0) this.#sendStaged();
    // Each round waits for one send op to finish; ops end with an empty queue.
    while (native !== null) {
      const queued = native.queued();
      if (queued < 0) throw udpFailure(queued, "flush()");
      if (queued === 0 && this.#sendOpsLive === 0) break;
      if (queued > 0) this.#startSendOp("flush()");
      yield* this.#flushers.wait(undefined, "flush()");
      checkOpen(this.#closed, this.#loop, "flush()");
    }
    const error = this.#sendError;
    if (error !== null) {
      this.#sendError = null;
      throw error;
    }
  }

  /** Queues a datagram as if the kernel were full (tests). */
  testEnqueue(data: Uint8Array, address: Address): void {
    checkOpen(this.#closed, this.#loop, "_testEnqueue()");
    const record = addressRecord(address, "_testEnqueue()");
    const native = this.#native ?? this.#open(record);
    const status = native.testEnqueue(data, record);
    if (status === SEND_QUEUED_START) this.#startSendOp("_testEnqueue()");
    else if (status < 0) throw udpFailure(status, "_testEnqueue()");
  }

  /**
   * The endpoint closed: a task blocked in `flush()` is woken (when `wake`)
   * and throws EBADF.
   */
  close(wake: boolean): void {
    this.#closed = true;
    if (wake) this.#flushers.notifyAll();
  }

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
    throw udpFailure(status, what, sendDetail(status, native));
  }

  /** Sends the staged datagrams (sendmmsg, segmented runs) without waiting. */
  #sendStaged(): void {
    this.#staged = 0;
    if (this.#closed) return;
    const status = this.#native!.sendQueued();
    if (status === SEND_SENT || status === SEND_QUEUED) return;
    if (status !== SEND_QUEUED_START && !this.#closed) {
      this.#sendError ??= udpFailure(
        status,
        `sending queued datagram(s) from ${describeAddress(this.#sockname!)}`,
        sendDetail(status, this.#native!),
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
    if (started < 0) throw udpFailure(started, what);
  }

  #sendDone(token: number, result: number, failed: number): void {
    this.#loop!._releaseToken(token);
    this.#sendOpsLive--;
    if (result < 0 && result !== -ECANCELED && !this.#closed) {
      this.#sendError ??= udpFailure(
        result,
        `sending ${failed} queued datagram(s) from ${
          describeAddress(this.#sockname!)
        }`,
        sendDetail(result, this.#native!),
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
    try {
      for (const { bytes, port } of queue) {
        this.send(bytes, { hostname, port });
      }
    } catch (error) {
      this.#sendError ??= error instanceof UDPError
        ? error
        : udpError("EINVAL", `send to ${hostname}`, String(error));
    } finally {
      // A flush() waiting for these datagrams goes on.
      this.#flushers.notifyAll();
    }
  }
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
