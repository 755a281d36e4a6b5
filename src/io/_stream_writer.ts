/**
 * Private to `io/` (not re-exported by `mod.ts`): the write side of a
 * {@linkcode Stream} (`stream.ts`), which holds one {@linkcode StreamWriter}
 * once it has a native stream. Inside a loop turn, writes are staged in one
 * buffer and leave in one send before the loop polls or parks (at once past
 * 64 KiB); what the kernel does not take is copied into the native queue, and
 * a drain op sends it in the background. `flush()` waits on the writer's
 * queue of tasks until both are empty.
 *
 * @module
 */

import type { EventLoop } from "../loop/event_loop.ts";
import { WaitQueue } from "../sync/wait_queue.ts";
import * as native from "../native/stream_native.ts";
import { errorFromResult, type StreamErrorClass } from "./errors.ts";
import { describe } from "../_util.ts";

/** Coalesced writes leave at once once this many bytes are staged. */
const COALESCE_MAX = 64 * 1024;
/** Writes of this many bytes or more are not staged (after what is). */
const COALESCE_DIRECT_MIN = 16 * 1024;

const encoder = new TextEncoder();
// Strings up to this many UTF-16 units are copied by a loop while they are
// ASCII (most protocol text): encodeInto needs a subarray and returns an
// object, which costs more than the loop for short text. It costs ~140 ns
// whatever the length, the loop 2-4 ns a unit (more for a string built by
// concatenation, which charCodeAt first flattens): an HTTP response head of
// ~130 units took 490 ns by the loop and 130 by encodeInto.
const ASCII_LOOP_MAX = 40;

/**
 * Encodes `text` as UTF-8 into `out` at `at` (room for three bytes per
 * unit is there); returns the new end.
 */
function stageText(text: string, out: Uint8Array, at: number): number {
  const length = text.length;
  if (length <= ASCII_LOOP_MAX) {
    let i = 0;
    for (; i < length; i++) {
      const unit = text.charCodeAt(i);
      if (unit >= 0x80) break;
      out[at + i] = unit;
    }
    if (i === length) return at + length;
    // Not ASCII from unit i on: the rest goes through the encoder.
    return at + i +
      encoder.encodeInto(text.slice(i), out.subarray(at + i)).written;
  }
  return at + encoder.encodeInto(text, out.subarray(at)).written;
}

/**
 * @internal The write side of one open (or connecting) native stream: the
 * staging buffer of a loop turn's writes, its send, the drains of the native
 * queue, and the tasks waiting in `flush()`. The stream checks its own
 * state (closed, not connected) before calling in.
 *
 * @example
 * ```ts ignore
 * import { StreamWriter } from "./_stream_writer.ts";
 * const writer = new StreamWriter(stream, loop, handle, TCPError);
 * writer.write("PING\r\n"); // staged: leaves before the loop polls
 * while (!writer.flushed()) yield* writer.waiters.wait(undefined, "flush()");
 * ```
 */
export class StreamWriter {
  /**
   * Tasks in `flush()`, woken when a drain ends, a send fails, the stream
   * connects or it is closed.
   */
  waiters: WaitQueue = new WaitQueue(() => {});
  /**
   * The stream: a staged send or a drain the loop holds keeps it (and so
   * its native stream, closed when it is collected) alive until done.
   */
  readonly owner: object;
  #loop: EventLoop;
  #handle: number;
  #errorClass: StreamErrorClass;
  // Writes of this turn, sent together before the loop polls or parks.
  #out: Uint8Array | null = null;
  #outUsed = 0;
  #sendScheduled = false;
  // The error of a coalesced send, thrown by the next write or flush.
  #sendFailure = 0;
  #draining = false;
  #drainToken = 0;
  #closed = false;

  /**
   * @param owner the stream
   * @param loop the loop the stream's ops run on
   * @param handle the native stream
   * @param errorClass the error class the stream throws
   */
  constructor(
    owner: object,
    loop: EventLoop,
    handle: number,
    errorClass: StreamErrorClass,
  ) {
    this.owner = owner;
    this.#loop = loop;
    this.#handle = handle;
    this.#errorClass = errorClass;
  }

  /**
   * `Stream.write` on an open stream: stages `data` inside a loop turn,
   * else (or when large) sends what is staged and then `data`. False while
   * bytes wait in the native queue.
   *
   * @throws {TypeError} if `data` is neither a Uint8Array nor a string.
   * @throws {StreamError} the error of an earlier send, or this one's.
   */
  write(data: Uint8Array | string): boolean {
    if (this.#sendFailure !== 0) {
      throw errorFromResult(this.#errorClass, this.#sendFailure, "write");
    }
    const loop = this.#loop;
    if (loop._inTurn) {
      if (typeof data === "string") {
        // Three bytes per UTF-16 unit at most.
        const most = data.length * 3;
        if (
          most < COALESCE_DIRECT_MIN && most <= COALESCE_MAX - this.#outUsed
        ) {
          const out = this.#outBuffer(most);
          this.#outUsed = stageText(data, out, this.#outUsed);
          return this.#staged(loop);
        }
      } else if (data instanceof Uint8Array) {
        // Large writes go out as they are (a copy would cost more than the
        // system call it saves).
        if (
          data.length < COALESCE_DIRECT_MIN &&
          data.length <= COALESCE_MAX - this.#outUsed
        ) {
          const out = this.#outBuffer(data.length);
          const used = this.#outUsed;
          const length = data.length;
          // A loop beats set() for the short replies most writes are.
          if (length <= 64) {
            for (let i = 0; i < length; i++) out[used + i] = data[i];
          } else {
            out.set(data, used);
          }
          this.#outUsed = used + length;
          return this.#staged(loop);
        }
      }
    }
    // Outside the loop, or large: what was staged goes first, then this.
    if (this.#outUsed > 0) this.#sendStaged();
    return this.#writeNow(data);
  }

  /**
   * One round of `Stream.flush` on an open stream: sends what is staged;
   * true when nothing waits in the native queue, else false with a drain
   * running (wait on {@linkcode StreamWriter.waiters}, then ask again).
   *
   * @throws {StreamError} the error that stopped sending.
   */
  flushed(): boolean {
    if (this.#outUsed > 0) this.#sendStaged();
    if (this.#sendFailure !== 0) {
      throw errorFromResult(this.#errorClass, this.#sendFailure, "flush");
    }
    const queued = native.streamQueued(this.#handle);
    if (queued < 0) {
      this.#sendFailure = queued;
      throw errorFromResult(this.#errorClass, queued, "flush");
    }
    if (queued === 0) return true;
    if (!this.#draining) {
      const started = this.#startDrain();
      if (started < 0) {
        throw errorFromResult(this.#errorClass, started, "flush");
      }
    }
    return false;
  }

  /**
   * `Stream.close`'s first step: what this turn wrote gets the one try a
   * direct write had (none when the loop was destroyed); nothing is sent
   * after it.
   */
  close(loopDestroyed: boolean): void {
    if (this.#outUsed > 0 && !loopDestroyed) this.#sendStaged();
    this.#closed = true;
  }

  /**
   * `Stream.close`'s last step: wakes the waiting tasks, or forgets them
   * when the loop was destroyed (they can never be resumed).
   */
  wakeAll(loopDestroyed: boolean): void {
    if (loopDestroyed) this.waiters = new WaitQueue(() => {});
    else this.waiters.notifyAll();
  }

  /** Sends `data` now: the native write (what the kernel refuses is queued). */
  #writeNow(data: Uint8Array | string): boolean {
    const result = typeof data === "string"
      ? native.streamWriteText(this.#handle, data)
      : native.streamWrite(this.#handle, toBytes(data, "write()"));
    if (result === native.WRITE_SENT) return true;
    if (result === native.WRITE_QUEUED_START) {
      this.#startDrain();
    } else if (result < 0) {
      if (result !== native.BAD_DESCRIPTOR) this.#sendFailure = result;
      throw errorFromResult(this.#errorClass, result, "write");
    }
    return false;
  }

  /** The staging buffer, with room for `more` bytes after what it holds. */
  #outBuffer(more: number): Uint8Array {
    const needed = this.#outUsed + more;
    let out = this.#out;
    if (out === null || out.length < needed) {
      let size = out === null ? 4096 : out.length * 2;
      while (size < needed) size *= 2;
      const grown = new Uint8Array(Math.min(size, COALESCE_MAX));
      if (out !== null) grown.set(out.subarray(0, this.#outUsed));
      this.#out = out = grown;
    }
    return out;
  }

  /** After staging: arranges the turn's send (or sends past the bound). */
  #staged(loop: EventLoop): boolean {
    if (this.#outUsed >= COALESCE_MAX) {
      this.#sendStaged();
    } else if (!this.#sendScheduled) {
      this.#sendScheduled = true;
      loop._beforePoll(this.#sendStagedHook);
    }
    return !this.#draining;
  }

  #sendStagedHook = (): void => {
    this.#sendScheduled = false;
    this.#sendStaged();
  };

  /**
   * Hands the staged bytes to the native write (one send); a failure is
   * kept for the next write or flush.
   */
  #sendStaged(): void {
    const used = this.#outUsed;
    if (used === 0 || this.#closed) return;
    this.#outUsed = 0;
    const result = native.streamWrite(this.#handle, this.#out!, used);
    if (result === native.WRITE_SENT || result === native.WRITE_QUEUED) return;
    if (result === native.WRITE_QUEUED_START) {
      const started = this.#startDrain();
      if (started >= 0 || started === native.IN_PROGRESS) return;
      this.#sendFailure = started;
      return;
    }
    // Failed now: the native side keeps the error; fetch it.
    const kept = result < 0 ? result : native.streamQueued(this.#handle);
    if (kept < 0) this.#sendFailure = kept;
    this.waiters.notifyAll();
  }

  // Each drain releases its own token: a drain's completion may still be
  // waiting in the ring when a write has already started the next one.
  #startDrain(): number {
    const loop = this.#loop;
    // Each drain's completion is told apart by its token: a drain that ended
    // natively may be followed by the next one before its record is taken,
    // and its late completion must not end the next drain's wait.
    const token = loop._registerToken(
      (result: number) => this.#drained(token, result),
      true,
      () => this.#drainSettled(token),
    );
    const result = native.streamDrain(this.#handle, token);
    if (result === native.IN_PROGRESS) {
      this.#draining = true;
      this.#drainToken = token;
    } else {
      loop._releaseToken(token);
    }
    return result;
  }

  #drainSettled(token: number): void {
    if (token !== this.#drainToken) return;
    this.#drainToken = 0;
    this.#draining = false;
  }

  #drained(token: number, result: number): void {
    this.#loop._releaseToken(token);
    // The queue could not be sent: later writes report why.
    if (result < 0 && result !== native.CANCELED && this.#sendFailure === 0) {
      this.#sendFailure = result;
    }
    if (token !== this.#drainToken) return;
    this.#drainToken = 0;
    this.#draining = false;
    this.waiters.notifyAll();
  }
}

/**
 * @internal `data` as bytes: strings are UTF-8 encoded.
 *
 * @throws {TypeError} if `data` is neither a Uint8Array nor a string.
 *
 * @example
 * ```ts
 * import { toBytes } from "./_stream_writer.ts";
 * console.log(toBytes("hi", "write()")); // Uint8Array(2) [ 104, 105 ]
 * ```
 */
export function toBytes(data: Uint8Array | string, what: string): Uint8Array {
  if (typeof data === "string") return encoder.encode(data);
  if (!(data instanceof Uint8Array)) {
    throw new TypeError(
      `${what} needs a Uint8Array or a string, got ${describe(data)}`,
    );
  }
  return data;
}
