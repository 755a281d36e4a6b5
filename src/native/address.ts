/**
 * Socket addresses across the FFI seam, for TCP and UDP alike: the public
 * `Address` shape and the 24-byte records of `zig/io/address.zig` (family,
 * port, scope id, 16 address bytes). Parsing and formatting both happen in
 * native code, the one parser and one formatter of the library; this module
 * only moves records and text across.
 *
 * @module
 */

import { openLibrary } from "./library.ts";
import { ERROR_NAMES } from "./errors.ts";
import { ADDRESS_TEXT_BYTES } from "./constants.ts";

// Families and the record size (constants.ts has their docs).
export {
  FAMILY_IP4,
  FAMILY_IP6,
  UDP_ADDRESS_BYTES as ADDRESS_BYTES,
} from "./constants.ts";

/** A network address: host name or IP literal (IPv6 without brackets) and port. */
export interface Address {
  /** Host name or IP address (for a Unix socket stream: its path). */
  hostname: string;
  /** Port, an integer from 0 to 65535 (0 for a socket path). */
  port: number;
}

const EINVAL = -ERROR_NAMES.indexOf("EINVAL");

const encoder = new TextEncoder();
const textScratch = new Uint8Array(256);
const hostScratch = new Uint8Array(ADDRESS_TEXT_BYTES);

/**
 * Parses an IP literal (or `"localhost"`, 127.0.0.1) and a port into `out`
 * (an address record); returns the family (4 or 6) or a negative code
 * (EINVAL for anything else: host names are not resolved here).
 *
 * @example
 * ```ts ignore
 * import { ADDRESS_BYTES, encodeAddress } from "./address.ts";
 * const record = new Uint8Array(ADDRESS_BYTES);
 * console.log(encodeAddress("127.0.0.1", 53, record)); // 4
 * ```
 */
export function encodeAddress(
  hostname: string,
  port: number,
  out: Uint8Array,
): number {
  const { read, written } = encoder.encodeInto(hostname, textScratch);
  // A literal never comes close to the scratch size; anything longer is junk.
  if (read !== hostname.length || written >= textScratch.length) return EINVAL;
  return openLibrary().symbols.eg_udp_address(textScratch, written, port, out);
}

/**
 * The host text of an address record (`"::1"`, `"fe80::1%2"`), as TCP
 * streams report theirs.
 *
 * @example
 * ```ts ignore
 * import { ADDRESS_BYTES, encodeAddress, hostText } from "./address.ts";
 * const record = new Uint8Array(ADDRESS_BYTES);
 * encodeAddress("0:0::1", 9, record);
 * console.log(hostText(record)); // "::1"
 * ```
 */
export function hostText(record: Uint8Array): string {
  const length = openLibrary().symbols.eg_address_text(record, hostScratch);
  if (length < 0 || length > ADDRESS_TEXT_BYTES) {
    throw new RangeError(
      `not an address record: native formatting returned ${
        length < 0 ? ERROR_NAMES[-length] ?? length : length
      }`,
    );
  }
  // The text is ASCII (digits, hex letters, '.', ':', '%'); a loop of char
  // codes beats a spread or a TextDecoder at this length (about 100 ns a call
  // with the FFI call, where formatting in JS took 20 ns for IPv4 and 800 for
  // IPv6).
  let text = "";
  for (let i = 0; i < length; i++) text += String.fromCharCode(hostScratch[i]);
  return text;
}

/**
 * The `{ hostname, port }` of an address record.
 *
 * @example
 * ```ts ignore
 * import { ADDRESS_BYTES, decodeAddress, encodeAddress } from "./address.ts";
 * const record = new Uint8Array(ADDRESS_BYTES);
 * encodeAddress("::1", 9, record);
 * console.log(decodeAddress(record)); // { hostname: "::1", port: 9 }
 * ```
 */
export function decodeAddress(record: Uint8Array): Address {
  return {
    hostname: hostText(record),
    port: record[2] | (record[3] << 8),
  };
}

/**
 * `"host:port"` for messages, with IPv6 literals in brackets.
 *
 * @example
 * ```ts ignore
 * import { describeAddress } from "./address.ts";
 * console.log(describeAddress({ hostname: "::1", port: 80 })); // "[::1]:80"
 * ```
 */
export function describeAddress(address: Address): string {
  const host = String(address.hostname);
  return host.includes(":")
    ? `[${host}]:${address.port}`
    : `${host}:${address.port}`;
}

/**
 * Whether `text` is written as an IP address (dotted IPv4, or anything with
 * a colon: IPv6) rather than a host name to look up.
 *
 * @example
 * ```ts ignore
 * import { isIpLiteral } from "./address.ts";
 * console.log(isIpLiteral("127.0.0.1"), isIpLiteral("localhost")); // true false
 * ```
 */
export function isIpLiteral(text: string): boolean {
  return DOTTED_IP4.test(text) || text.includes(":");
}

const DOTTED_IP4 = /^\d{1,3}(\.\d{1,3}){3}$/;
