/**
 * Web streams over a {@linkcode Stream} (`stream.ts`): `stream.readable` and
 * `stream.writable`, as on `Deno.Conn`, so async code and Web APIs
 * (`pipeTo`, `new Response(...)`, `TextDecoderStream`) can use a stream
 * while the loop runs. Each read or write runs the stream's public
 * generator methods (`readInto`, `write`, `flush`, `shutdown`) in a task on
 * the loop and awaits it, so the rules of those methods hold: a read
 * through `readable` while a task reads is refused like two readers are.
 *
 * @module
 */

import { Task } from "../tasks.ts";
import { StreamError } from "./errors.ts";
import type { Stream } from "./stream.ts";

// One chunk of a readable is at most this big (Deno's conn.readable reads
// 64 KiB at a time too).
const READ_CHUNK_SIZE = 64 * 1024;

const readables = new WeakMap<Stream, ReadableStream<Uint8Array>>();
const writables = new WeakMap<Stream, WritableStream<Uint8Array>>();

/** The value `cache` holds for `stream`, made by `make` on first use. */
function onePerStream<T>(
  cache: WeakMap<Stream, T>,
  stream: Stream,
  make: (stream: Stream) => T,
): T {
  let value = cache.get(stream);
  if (value === undefined) {
    value = make(stream);
    cache.set(stream, value);
  }
  return value;
}

/**
 * The stream's `ReadableStream` (one per stream). Reads on demand only (a
 * high-water mark of 0), so nothing is read ahead of the consumer; each
 * read is a `readInto` in a task of the stream's loop, which must be
 * running (`await loop.run()` elsewhere). Cancelling it closes the stream,
 * as cancelling `Deno.Conn.readable` does.
 *
 * @example
 * ```ts ignore
 * const text = await new Response(client.readable).text();
 * ```
 */
export function readableOf(stream: Stream): ReadableStream<Uint8Array> {
  return onePerStream(readables, stream, makeReadable);
}

/**
 * The stream's `WritableStream` (one per stream). Each chunk is written
 * with `write()` in a task of the stream's loop, which also waits for
 * `flush()` when the kernel did not take it at once (backpressure).
 * Closing it flushes and half-closes the stream (`shutdown()`), so the
 * stream can still be read; a stream that cannot half-close (a pipe, a
 * terminal, standard output) is closed once flushed instead. Aborting it
 * closes the stream.
 *
 * @example
 * ```ts ignore
 * await ReadableStream.from(["PING\n"]).pipeThrough(new TextEncoderStream())
 *   .pipeTo(client.writable);
 * ```
 */
export function writableOf(stream: Stream): WritableStream<Uint8Array> {
  return onePerStream(writables, stream, makeWritable);
}

function makeReadable(stream: Stream): ReadableStream<Uint8Array> {
  const buffer = new Uint8Array(READ_CHUNK_SIZE);
  const name = `${stream.constructor.name}.readable`;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const count = await inTask(name, function* () {
        return yield* stream.readInto(buffer);
      });
      if (count === 0) controller.close();
      else controller.enqueue(buffer.slice(0, count));
    },
    cancel() {
      stream.close();
    },
  }, { highWaterMark: 0 });
}

function makeWritable(stream: Stream): WritableStream<Uint8Array> {
  const name = `${stream.constructor.name}.writable`;
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      await inTask(name, function* () {
        if (!stream.write(chunk)) yield* stream.flush();
      });
    },
    async close() {
      await inTask(name, function* () {
        try {
          yield* stream.shutdown();
        } catch (error) {
          // A pipe, terminal or file has no half-close: once its bytes are
          // out, close it (as Deno's own `writable` does).
          if (!(error instanceof StreamError) || error.code !== "ENOTSOCK") {
            throw error;
          }
          stream.close();
        }
      });
    },
    abort() {
      stream.close();
    },
  });
}

// Runs `body` in a task of the current loop and waits for its end; the
// task's error (awaited, so not reported) rejects the promise.
function inTask<R>(
  name: string,
  body: () => Generator<unknown, R, unknown>,
): Promise<R> {
  const task = new Task<R>(body, { name });
  const settled = Promise.resolve(task);
  task.start();
  return settled;
}
