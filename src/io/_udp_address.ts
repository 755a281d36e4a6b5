/**
 * What every part of a `UDPEndpoint` (`udp.ts`, `_udp_send.ts`,
 * `_udp_receive.ts`) checks and words the same way: the native records of
 * the addresses it is given (argument checks, host names resolved now or
 * later through `lookup.ts`, a bounded cache so that a repeated destination
 * parses nothing), and its `UDPError`s.
 *
 * @module
 */

import { describe as describeValue } from "../_util.ts";
import type { EventLoop } from "../loop/event_loop.ts";
import { resolveNow } from "./lookup.ts";
import { errorFor, errorFromResult, StreamError, UDPError } from "./errors.ts";
import {
  type Address,
  ADDRESS_BYTES,
  describeAddress,
  encodeAddress,
} from "../native/address.ts";

// Records of recently used addresses, so that a send to the same
// destination parses nothing. Bounded: cleared when full.
const RECORD_CACHE_SIZE = 1024;
const records = new Map<string, Uint8Array>();
let lastHostname = "";
let lastPort = -1;
let lastRecord: Uint8Array | null = null;

/**
 * The native record of an address, a host name resolved at once (blocking
 * the thread the first time; cached for the process).
 *
 * @example
 * ```ts
 * import { addressRecord } from "./_udp_address.ts";
 * const record = addressRecord({ hostname: "127.0.0.1", port: 53 }, "send()");
 * console.log(record[0]); // 4 (FAMILY_IP4)
 * ```
 *
 * @throws {UDPError} `EINVAL` for a port outside 0-65535 or a hostname that
 *   is neither an IP literal nor a host name; the lookup's error for a name
 *   that does not resolve.
 * @throws {TypeError} if `address` is not `{ hostname, port }`.
 */
export function addressRecord(address: Address, what: string): Uint8Array {
  return addressRecordOrPending(address, what, resolveNow)!;
}

/**
 * The native record of an address; cached per hostname and port. A host
 * name is resolved by `resolve`; one that answers `undefined` (a lookup
 * started) makes this answer null.
 *
 * @example
 * ```ts
 * import { addressRecordOrPending } from "./_udp_address.ts";
 * const record = addressRecordOrPending(
 *   { hostname: "::1", port: 53 },
 *   "send()",
 *   () => undefined, // never asked: "::1" is an IP literal
 * );
 * console.log(record![0]); // 6 (FAMILY_IP6)
 * ```
 *
 * @throws {UDPError} as {@linkcode addressRecord}.
 * @throws {TypeError} if `address` is not `{ hostname, port }`.
 */
export function addressRecordOrPending(
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
      throw udpFailure(
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

/**
 * `"host:port"` of an address argument for messages, whatever was passed.
 *
 * @example
 * ```ts
 * import { describeTarget } from "./_udp_address.ts";
 * console.log(describeTarget({ hostname: "::1", port: 53 })); // "[::1]:53"
 * ```
 */
export function describeTarget(address: Address): string {
  if (typeof address !== "object" || address === null) {
    return describeValue(address);
  }
  return describeAddress(address);
}

/**
 * The UDPError of a native result (`-code`) for `what`.
 *
 * @example
 * ```ts
 * import { udpFailure } from "./_udp_address.ts";
 * console.log(udpFailure(-22, "bind").code); // "EINVAL"
 * ```
 */
export function udpFailure(
  result: number,
  what: string,
  detail?: string,
): UDPError {
  return errorFromResult(UDPError, result, what, detail) as UDPError;
}

/**
 * The UDPError with `code` for `what`.
 *
 * @example
 * ```ts
 * import { udpError } from "./_udp_address.ts";
 * const error = udpError("EBADF", "send()", "the endpoint is closed");
 * console.log(error.message); // "send() failed: EBADF (the endpoint is closed)"
 * ```
 */
export function udpError(code: string, what: string, detail: string): UDPError {
  return errorFor(UDPError, code, what, detail) as UDPError;
}

/**
 * Throws `EBADF` for `what` on an endpoint that is closed or whose loop was
 * destroyed.
 *
 * @example
 * ```ts
 * import { checkOpen } from "./_udp_address.ts";
 * checkOpen(false, null, "send()"); // open: returns
 * ```
 *
 * @throws {UDPError} `EBADF`.
 */
export function checkOpen(
  closed: boolean,
  loop: EventLoop | null,
  what: string,
): void {
  if (closed) throw udpError("EBADF", what, "the endpoint is closed");
  if (loop?._destroyed) {
    throw udpError(
      "EBADF",
      what,
      "the UDPEndpoint cannot be used: its loop was destroyed",
    );
  }
}
