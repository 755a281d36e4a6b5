// The DNS message work shared by our DNS responder (bench/servers/dns.ts)
// and its Deno twin (bench/peers/dns_deno.ts), so that both pay the same
// for everything but the I/O: parse a query's header and question, answer
// an A/IN question with one A record (an address in 127.0.0.0/8 derived
// from the name), any other type with no answer, another opcode with
// NOTIMP and a malformed question with FORMERR. Additional records (EDNS)
// in the query are ignored and not echoed.

const HEADER = 12;
// Every reply is written here and returned as a view of it, valid until the
// next call: both servers send it first (our send() copies it, the twin
// awaits its send), and a fresh Uint8Array per reply cost more than the
// rest of the message work (375 -> 94 ns per answer).
const REPLY = new Uint8Array(HEADER + 255 + 4 + 16);
const TYPE_A = 1;
const CLASS_IN = 1;

/** The TTL of every answer, in seconds. */
export const TTL = 60;

/**
 * The address answered for the name at `query[from, to)` (wire form), as
 * one 32-bit number: 127.x.y.z from a hash of the name without case.
 */
export function addressFor(
  query: Uint8Array,
  from: number,
  to: number,
): number {
  let hash = 2166136261;
  for (let i = from; i < to; i++) {
    let byte = query[i];
    if (byte >= 65 && byte <= 90) byte += 32; // names compare without case
    hash = Math.imul(hash ^ byte, 16777619);
  }
  return ((127 << 24) | (hash & 0xfffffe) | 1) >>> 0;
}

function errorReply(query: Uint8Array, rcode: number): Uint8Array {
  const reply = REPLY;
  for (let i = 0; i < 4; i++) reply[i] = query[i];
  reply.fill(0, 4, HEADER);
  reply[2] = (query[2] & 0x79) | 0x80; // QR, opcode and RD kept
  reply[3] = rcode;
  return reply.subarray(0, HEADER);
}

/**
 * The reply to the query in `query`, or null when it is not worth one (too
 * short for a header, or itself a response). The reply is a view of one
 * buffer that the next call overwrites: send it before answering again.
 */
export function answer(query: Uint8Array): Uint8Array | null {
  if (query.length < HEADER || (query[2] & 0x80) !== 0) return null;
  const opcode = (query[2] >> 3) & 15;
  if (opcode !== 0) return errorReply(query, 4); // NOTIMP
  const questions = (query[4] << 8) | query[5];
  if (questions !== 1) return errorReply(query, 1); // FORMERR
  let at = HEADER;
  for (;;) {
    if (at >= query.length) return errorReply(query, 1);
    const length = query[at];
    if (length === 0) break;
    if (length > 63) return errorReply(query, 1); // no pointers in a question
    at += length + 1;
    if (at - HEADER > 254) return errorReply(query, 1);
  }
  const nameEnd = at + 1;
  const questionEnd = nameEnd + 4;
  if (questionEnd > query.length) return errorReply(query, 1);
  const type = (query[nameEnd] << 8) | query[nameEnd + 1];
  const klass = (query[nameEnd + 2] << 8) | query[nameEnd + 3];
  const answers = type === TYPE_A && klass === CLASS_IN ? 1 : 0;
  const reply = REPLY;
  // A loop: the header and question are a few dozen bytes, for which a
  // subarray and set() cost more than the copy.
  for (let i = 0; i < questionEnd; i++) reply[i] = query[i];
  reply[2] = (query[2] & 0x79) | 0x84; // QR, AA; opcode and RD kept
  reply[3] = 0; // RA 0, NOERROR
  reply[6] = 0;
  reply[7] = answers;
  reply[8] =
    reply[9] =
    reply[10] =
    reply[11] =
      0;
  if (answers === 1) {
    let i = questionEnd;
    reply[i++] = 0xc0; // the name: a pointer to the question's
    reply[i++] = HEADER;
    reply[i++] = 0;
    reply[i++] = TYPE_A;
    reply[i++] = 0;
    reply[i++] = CLASS_IN;
    reply[i++] = (TTL >>> 24) & 255;
    reply[i++] = (TTL >>> 16) & 255;
    reply[i++] = (TTL >>> 8) & 255;
    reply[i++] = TTL & 255;
    reply[i++] = 0;
    reply[i++] = 4;
    const address = addressFor(query, HEADER, nameEnd);
    reply[i++] = address >>> 24;
    reply[i++] = (address >>> 16) & 255;
    reply[i++] = (address >>> 8) & 255;
    reply[i] = address & 255;
  }
  return reply.subarray(0, questionEnd + answers * 16);
}
