/**
 * The DNS answer both responders of bench/udp_dns.ts compute: for a query
 * with one question, the same header (QR, AA and RA set, NOERROR), the
 * question, and one A record 127.0.0.1 with a 60 s TTL pointing at it.
 *
 * @module
 */

/**
 * Writes the answer to `query` into `out`; returns its length, or 0 for
 * something that is not a one-question query (it gets no answer).
 *
 * @example
 * ```ts ignore
 * import { answerQuery } from "./udp_dns_answer.ts";
 * const out = new Uint8Array(512);
 * const length = answerQuery(query, out);
 * ```
 */
export function answerQuery(query: Uint8Array, out: Uint8Array): number {
  if (query.length < 17 || (query[2] & 0x80) !== 0) return 0;
  if (query[4] !== 0 || query[5] !== 1) return 0;
  // The question: labels up to the root, then type and class.
  let at = 12;
  while (at < query.length && query[at] !== 0) at += query[at] + 1;
  const end = at + 5;
  if (end > query.length || end + 16 > out.length) return 0;
  out.set(query.subarray(0, end));
  out[2] = 0x84 | (query[2] & 0x01); // QR, AA, RD copied
  out[3] = 0x80; // RA, NOERROR
  out[6] = 0;
  out[7] = 1; // one answer
  out[8] =
    out[9] =
    out[10] =
    out[11] =
      0;
  out.set(ANSWER, end);
  return end + ANSWER.length;
}

// Name: pointer to the question's; type A, class IN, TTL 60, 127.0.0.1.
const ANSWER = new Uint8Array([
  0xc0,
  0x0c,
  0,
  1,
  0,
  1,
  0,
  0,
  0,
  60,
  0,
  4,
  127,
  0,
  0,
  1,
]);
