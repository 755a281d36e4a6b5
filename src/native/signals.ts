/**
 * Signal numbers per OS, for the native loop's signal watching (which takes
 * numbers, since they differ: SIGUSR1 is 10 on Linux and 30 on macOS).
 *
 * @module
 */

// The numbers Linux, macOS and the BSDs agree on.
const SHARED = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
} as const;

const LINUX: Readonly<Record<string, number>> = {
  ...SHARED,
  SIGBUS: 7,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGURG: 23,
  SIGIO: 29,
  SIGPOLL: 29,
  SIGPWR: 30,
  SIGSYS: 31,
  SIGUNUSED: 31,
};

// macOS and the BSDs share these numbers.
const BSD: Readonly<Record<string, number>> = {
  ...SHARED,
  SIGEMT: 7,
  SIGBUS: 10,
  SIGSYS: 12,
  SIGURG: 16,
  SIGSTOP: 17,
  SIGTSTP: 18,
  SIGCONT: 19,
  SIGCHLD: 20,
  SIGIO: 23,
  SIGINFO: 29,
  SIGUSR1: 30,
  SIGUSR2: 31,
};

// Windows has console control events only (API.md: SIGINT and SIGBREAK).
const WINDOWS: Readonly<Record<string, number>> = {
  SIGINT: 2,
  SIGBREAK: 21,
};

/**
 * The number of `sig` on this OS.
 *
 * @throws {TypeError} when the signal does not exist here (e.g. SIGUSR1 on
 *   Windows, SIGINFO on Linux).
 * @example
 * ```ts
 * import { signalNumber } from "./signals.ts";
 * console.log(signalNumber("SIGINT")); // 2
 * ```
 */
export function signalNumber(
  sig: Deno.Signal,
  os: typeof Deno.build.os = Deno.build.os,
): number {
  const table = os === "linux" || os === "android"
    ? LINUX
    : os === "windows"
    ? WINDOWS
    : BSD;
  const number = table[sig];
  if (number === undefined) {
    throw new TypeError(`signal ${sig} does not exist on ${os}`);
  }
  return number;
}
