/**
 * evergreen for Deno: cooperative fibers, fiber-local storage, an event loop
 * with thread-like tasks and primitives, and fast TCP/pipe/UDP I/O on a
 * native core loaded with `Deno.dlopen`.
 *
 * @module
 */

export { current, Fiber, FiberError, type FiberTarget } from "./src/fiber.ts";
export { FiberLocal, local } from "./src/local.ts";
export { NamedError } from "./src/named_error.ts";
export {
  type Callback,
  EventLoop,
  type EventLoopOptions,
  Handler,
  type StallReport,
} from "./src/loop.ts";
export { shield, sleep, spawn, Task, task, TaskExit } from "./src/tasks.ts";
export { TaskGroup } from "./src/task_group.ts";
export { Event } from "./src/sync/event.ts";
export { BoundedSemaphore, Guard, Lock, Semaphore } from "./src/sync/locks.ts";
export { RLock } from "./src/sync/rlock.ts";
export { Condition } from "./src/sync/condition.ts";
export {
  LifoQueue,
  PriorityQueue,
  Queue,
  QueueEmpty,
  QueueFull,
} from "./src/sync/queue.ts";
export { Channel, StopIteration } from "./src/sync/channel.ts";
export { Timeout } from "./src/sync/timeout.ts";
export {
  asCompleted,
  CancelledError,
  Future,
  type ReturnWhen,
  TaskPoolExecutor,
  TimeoutError,
  wait,
  waitPromise,
} from "./src/futures.ts";
export {
  PipeError,
  StreamError,
  TCPError,
  TLSError,
  UDPError,
} from "./src/io/errors.ts";
export { Stream, type StreamOptions } from "./src/io/stream.ts";
export {
  type Address,
  type TCPBindOptions,
  TCPClient,
  TCPConnection,
  TCPServer,
  TCPStream,
} from "./src/io/tcp.ts";
export {
  PipeClient,
  PipeConnection,
  PipeServer,
  PipeStream,
} from "./src/io/pipe.ts";
export { TTYStream, type WindowSize } from "./src/io/tty.ts";
export { lookup, type LookupOptions } from "./src/io/lookup.ts";
export {
  TLSClient,
  TLSConnection,
  type TLSConnectOptions,
  type TLSOptions,
  TLSServer,
  type TLSServerOptions,
  TLSStream,
} from "./src/io/tls.ts";
export { StderrStream, StdinStream, StdoutStream } from "./src/io/stdio.ts";
export {
  type UDPBindOptions,
  UDPEndpoint,
  type UDPEndpointOptions,
} from "./src/io/udp.ts";
