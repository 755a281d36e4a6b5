// The DNS message work shared by our DNS responder (bench/servers/dns.ts)
// and its Deno twin (bench/peers/dns_deno.ts), so that both pay the same
// for everything but the I/O: parse a query's header and question, answer
// an A/IN question with one A record (an address in 127.0.0.0/8 derived
// from the name), any other type with no answer, another opcode with
// NOTIMP and a malformed question with FORMERR. Additional records (EDNS)
// in the query are ignored and not echoed.

const HEADER = 12;
const TYPE_A = 1;
const CLASS_IN = 1;

/** The TTL of every answer, in seconds. */
export const TTL = 60;

/** The address answered for a name (its bytes in wire form). */
export function addressFor(name: Uint8Array): [number, number, number, number] {
  let hash = 2166136261;
  for (let i = 0; i < name.length; i++) {
    let byte = name[i];
    if (byte >= 65 && byte <= 90) byte += 32; // names compare without case
    hash = Math.imul(hash ^ byte, 16777619);
  }
  return [127, (hash >>> 16) & 255, (hash >>> 8) & 255, (hash & 254) | 1];
}

function errorReply(query: Uint8Array, rcode: number): Uint8Array {
  const reply = new Uint8Array(HEADER);
  reply.set(query.subarray(0, 4));
  reply[2] = (query[2] & 0x79) | 0x80; // QR, opcode and RD kept
  reply[3] = rcode;
  return reply;
}

/**
 * The reply to the query in `query`, or null when it is not worth one (too
 * short for a header, or itself a response).
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
  const reply = new Uint8Array(questionEnd + answers * 16);
  reply.set(query.subarray(0, questionEnd));
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
    reply.set(addressFor(query.subarray(HEADER, nameEnd)), i);
  }
  return reply;
}
