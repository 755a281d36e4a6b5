/**
 * The standard streams as streams (evergreen's `StdinStream`,
 * `StdoutStream`, `StderrStream`): each opens a descriptor of its own for
 * fd 0, 1 or 2, so that closing it or making it nonblocking leaves the fd
 * Deno and the parent share alone, and works whatever the fd is: a pipe, a
 * socket, a terminal or a regular file (`zig/io/stdio.zig` says how each is
 * handled; a file's input is copied in by a native thread, since a file
 * cannot be polled).
 *
 * @module
 */

import * as native from "../native/stream_native.ts";
import { StreamError, type StreamErrorClass } from "./errors.ts";
import { Stream, type StreamOptions } from "./stream.ts";

const NAMES = ["stdin", "stdout", "stderr"];

/**
 * @internal Base of the three standard streams: a descriptor of its own for
 * fd 0, 1 or 2, opened natively on the current loop.
 */
export abstract class StandardStream extends Stream {
  /** @throws {StreamError} `EBADF` if `fd` is not open. */
  constructor(fd: 0 | 1 | 2, options: StreamOptions) {
    super(options);
    this._attachOpened(
      `open ${NAMES[fd]} (fd ${fd})`,
      (loop, maxBufferSize) => native.stdioOpen(loop, fd, maxBufferSize),
    );
  }

  /** @internal */
  protected get _errorClass(): StreamErrorClass {
    return StreamError;
  }
}

/**
 * The process's standard input (fd 0) as a stream on the current loop: a
 * descriptor of its own (pipe, socket, terminal or file alike). At the end
 * of the input reads return what is left, then empty arrays.
 *
 * @example
 * ```ts ignore
 * import { EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 * import { StdinStream } from "./stdio.ts";
 *
 * using loop = new EventLoop();
 * spawn(function* () {
 *   using stdin = new StdinStream();
 *   const line = yield* stdin.readUntil("\n");
 *   console.log(`read ${line.length} bytes`);
 * });
 * await loop.run();
 * ```
 */
export class StdinStream extends StandardStream {
  /**
   * Opens standard input on the current loop.
   *
   * @param options `maxBufferSize`, the read buffer's bound
   * @throws {StreamError} `EBADF` if fd 0 is not open.
   */
  constructor(options: StreamOptions = {}) {
    super(0, options);
  }
}

/**
 * The process's standard output (fd 1) as a stream on the current loop.
 * `write` never blocks (a pipe that is full queues natively; a file takes
 * every write whole); `flush()` waits until the bytes reached fd 1.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 * import { StdoutStream } from "./stdio.ts";
 *
 * using loop = new EventLoop();
 * spawn(function* () {
 *   using stdout = new StdoutStream();
 *   stdout.write("hello from a task\n");
 *   yield* stdout.flush();
 * });
 * await loop.run();
 * ```
 */
export class StdoutStream extends StandardStream {
  /**
   * Opens standard output on the current loop.
   *
   * @param options `maxBufferSize`, the read buffer's bound
   * @throws {StreamError} `EBADF` if fd 1 is not open.
   */
  constructor(options: StreamOptions = {}) {
    super(1, options);
  }
}

/**
 * The process's standard error (fd 2) as a stream on the current loop;
 * behaves as {@linkcode StdoutStream}.
 *
 * @example
 * ```ts
 * import { EventLoop } from "../loop.ts";
 * import { spawn } from "../tasks.ts";
 * import { StderrStream } from "./stdio.ts";
 *
 * using loop = new EventLoop();
 * spawn(function* () {
 *   using stderr = new StderrStream();
 *   stderr.write("a warning\n");
 *   yield* stderr.flush();
 * });
 * await loop.run();
 * ```
 */
export class StderrStream extends StandardStream {
  /**
   * Opens standard error on the current loop.
   *
   * @param options `maxBufferSize`, the read buffer's bound
   * @throws {StreamError} `EBADF` if fd 2 is not open.
   */
  constructor(options: StreamOptions = {}) {
    super(2, options);
  }
}
