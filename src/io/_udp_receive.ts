/**
 * The receiving half of a `UDPEndpoint` (`udp.ts`): datagrams are taken
 * straight out of the native receive ring of `native/udp_native.ts`, filled
 * in batches (recvmmsg on Linux); when it is empty one task waits on the
 * native receive op and the others queue behind it.
 *
 * @module
 */

import { current, Fiber } from "../fiber.ts";
import { checkInteger } from "../_util.ts";
import type { EventLoop } from "../loop/event_loop.ts";
import type { Runnable } from "../loop/handler.ts";
import { WaitQueue } from "../sync/wait_queue.ts";
import { type Address, describeAddress } from "../native/address.ts";
import type { NativeUdpEndpoint } from "../native/udp_native.ts";
import { PendingOp } from "./_pending_op.ts";
import { checkOpen, udpError, udpFailure } from "./_udp_address.ts";

// The hub resumes the receiving task itself, without Task.switch's check.
const fiberSwitch = Fiber.prototype.switch;

/**
 * The native receive op one task waits on: a `PendingOp` (its completion
 * resumes the task from the hub) that `close()` can also end at once,
 * being its own ready-queue entry.
 */
class ReceiveOp extends PendingOp implements Runnable {
  /** False once the task stopped waiting (resumed, killed, timed out). */
  waiting = true;
  #fiber: Fiber;

  constructor(loop: EventLoop, fiber: Fiber) {
    super(loop, fiber);
    this.#fiber = fiber;
  }

  /** The endpoint closed: the op ends (EBADF) and its task runs next. */
  endClosed(loop: EventLoop): void {
    if (this.done) return;
    // Its ECANCELED completion, later, only gives the token back.
    this.settle();
    loop._enqueue(this);
  }

  _fire(): unknown {
    return this.waiting ? fiberSwitch.call(this.#fiber) : undefined;
  }
}

/**
 * @internal The receive side of one endpoint: `receive()`,
 * `receiveMany()`, and the wake-up of their tasks on close.
 *
 * @example
 * ```ts ignore
 * const receiver = new UdpReceiver(65536, 64);
 * receiver.attach(loop, native); // once the socket exists
 * const [bytes, sender] = yield* receiver.receive();
 * ```
 */
export class UdpReceiver {
  #receiveSize: number;
  #receiveBatch: number;
  #loop: EventLoop | null = null;
  #native: NativeUdpEndpoint | null = null;
  #closed = false;
  // The native receive op one task waits on.
  #op: ReceiveOp | null = null;
  // Tasks receiving while another one waits on the native receive op.
  #receivers = new WaitQueue();

  /** `receiveSize` and `receiveBatch` are the endpoint's options. */
  constructor(receiveSize: number, receiveBatch: number) {
    this.#receiveSize = receiveSize;
    this.#receiveBatch = receiveBatch;
  }

  /** The socket is open (bound) on `loop`. */
  attach(loop: EventLoop, native: NativeUdpEndpoint): void {
    this.#loop = loop;
    this.#native = native;
  }

  /** See `UDPEndpoint.receive`. */
  *receive(): Generator<unknown, [Uint8Array, Address], unknown> {
    const native = this.#ring("receive()");
    // Each round takes a datagram or waits for the kernel to have some.
    for (;;) {
      if (native.pending() > 0) return this.#take(native, "receive()");
      yield* this.#awaitDatagrams(native, "receive()");
    }
  }

  /** See `UDPEndpoint.receiveMany`. */
  *receiveMany(
    max: number = this.#receiveBatch,
  ): Generator<unknown, [Uint8Array, Address][], unknown> {
    checkInteger(max, "UDPEndpoint", "max", 1, Number.MAX_SAFE_INTEGER);
    const native = this.#ring("receiveMany()");
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
   * The endpoint closed: a task blocked in a receive is woken (through the
   * ready queue when `wake`, else by the op's ECANCELED) and throws EBADF.
   */
  close(wake: boolean): void {
    this.#closed = true;
    if (!wake) return;
    this.#op?.endClosed(this.#loop!);
    this.#receivers.notifyAll();
  }

  #ring(what: string): NativeUdpEndpoint {
    checkOpen(this.#closed, this.#loop, what);
    const native = this.#native;
    if (native === null) {
      throw udpError(
        "EINVAL",
        what,
        "the endpoint is not bound: bind() it or send() from it first",
      );
    }
    const result = native.mapRing();
    if (result < 0) throw udpFailure(result, what);
    return native;
  }

  #take(native: NativeUdpEndpoint, what: string): [Uint8Array, Address] {
    const size = native.truncatedSize();
    if (size < 0) return native.take();
    const sender = native.dropNext();
    const limit = this.#receiveSize;
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
    if (this.#op !== null) {
      yield* this.#receivers.wait(undefined, what);
      checkOpen(this.#closed, this.#loop, what);
      return;
    }
    const loop = this.#loop!;
    // The op is its own token entry; its completion resumes this fiber.
    const op = new ReceiveOp(loop, current());
    // Fills the ring if the kernel has datagrams, else starts the op.
    const started = native.receive(op.token);
    if (started !== 0) {
      op.release();
      if (started > 0) return;
      throw udpFailure(started, what);
    }
    try {
      loop._blockingFiber(`UDPEndpoint.${what}`);
    } catch (error) {
      // Not in a task: nothing may wait, the op completes canceled.
      op.abandon();
      native.cancelReceive();
      throw error;
    }
    this.#op = op;
    try {
      yield* op.wait();
    } finally {
      op.waiting = false;
      this.#op = null;
      if (!op.done) {
        // Killed or timed out while waiting: the op completes with
        // ECANCELED and gives its token back then.
        op.abandon();
        if (!this.#closed) native.cancelReceive();
      }
      this.#receivers.notify(1);
    }
    checkOpen(this.#closed, this.#loop, what);
    if (op.result < 0) throw udpFailure(op.result, what);
  }
}
