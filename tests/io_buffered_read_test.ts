// Issue 11 point 1: reads answered from the read buffer (one native call,
// no op) and readUntilRegex keeping what it decoded between calls; mixed
// reads over pipelined data return every byte once, in order. Real sockets
// on 127.0.0.1, both loop modes.

import assert from "node:assert/strict";
import {
  bothModes,
  connectedToEcho,
  detach,
  scenario,
  text,
} from "./fixtures/stream_harness.ts";

bothModes(
  "pipelined lines read back with readUntil, readBytes, readUntilRegex and readInto in turn, every byte once",
  (mode) =>
    scenario(mode, function* () {
      const { server, client } = yield* connectedToEcho();
      let sent = "";
      for (let i = 0; i < 400; i++) sent += `line ${i} ${"x".repeat(i % 50)}\n`;
      client.write(sent);
      let got = "";
      const buffer = new Uint8Array(7);
      for (let i = 0; got.length < sent.length; i++) {
        switch (i % 4) {
          case 0:
            got += text(yield* client.readUntil("\n"));
            break;
          case 1:
            got += text(yield* client.readBytes(3));
            break;
          case 2:
            got += text(yield* client.readUntilRegex(/x+\n|\d\n/));
            break;
          default: {
            const n = yield* client.readInto(buffer);
            got += text(buffer.subarray(0, n));
          }
        }
      }
      assert.equal(got, sent);
      client.close();
      server.close();
    }),
);

bothModes(
  "readUntilRegex answers a second match from bytes it already decoded",
  (mode) =>
    scenario(mode, function* () {
      const { server, client } = yield* connectedToEcho();
      client.write("a1;b22;c333;\n");
      assert.equal(text(yield* client.readUntilRegex(/\d+;/)), "a1;");
      assert.equal(text(yield* client.readUntilRegex(/\d+;/)), "b22;");
      assert.equal(text(yield* client.readBytes(2)), "c3");
      assert.equal(text(yield* client.readUntilRegex(/;/)), "33;");
      assert.equal(text(yield* client.readUntil("\n")), "\n");
      client.close();
      server.close();
    }),
);

bothModes(
  "a delimiter split across reads of the peer is found once both halves arrived",
  (mode) =>
    scenario(mode, function* () {
      const { server, client } = yield* connectedToEcho();
      client.write("head\r");
      yield* client.flush();
      client.write("\n");
      client.write("tail\r\n\n");
      assert.equal(text(yield* client.readUntil("\r\n")), "head\r\n");
      assert.equal(text(yield* client.readUntil("\r\n")), "tail\r\n");
      client.close();
      server.close();
    }),
);

bothModes(
  "a read op behaves as a generator: it does its work once started, bad arguments throw from yield*, a finished one answers done",
  (mode) =>
    scenario(mode, function* () {
      const { server, client } = yield* connectedToEcho();
      client.write("one\ntwo\n");
      assert.equal(text(yield* client.readUntil("\n")), "one\n");
      assert.equal(text(yield* client.readBytes(4)), "two\n");
      // Made, the call returns; started, it throws.
      const bad = client.readBytes(-1);
      assert.throws(() => {
        for (const _ of bad) break;
      }, RangeError);
      const badInto = client.readInto(new Uint8Array(0));
      assert.throws(() => {
        for (const _ of badInto) break;
      }, TypeError);
      // A finished op, stepped again, answers done and reads nothing.
      client.write("o\n");
      const third = client.readBytes(1);
      assert.equal(text(yield* third), "o");
      assert.deepEqual(third.next(), { done: true, value: undefined });
      assert.equal(text(yield* client.readBytes(1)), "\n");
      // One that waits, ended by return(), gives up its op: a byte that
      // comes later goes to the next read.
      const waiting = client.readBytes(1);
      assert.equal(waiting[Symbol.iterator](), waiting);
      assert.equal(waiting.next().done, false);
      assert.equal(waiting.return(undefined as never).done, true);
      client.write("?\n");
      assert.equal(text(yield* client.readBytes(2)), "?\n");
      // Made before close(), started after: it finds the stream closed.
      const late = client.readBytes(1);
      client.close();
      assert.throws(() => {
        for (const _ of late) break;
      }, /EBADF/);
      server.close();
    }),
);

bothModes(
  "a read op has what a generator has: iterator helpers and Symbol.dispose",
  (mode) =>
    scenario(mode, function* () {
      const { server, client } = yield* connectedToEcho();
      client.write("ab\n");
      const op = client.readUntil("\n");
      assert.ok(op instanceof Iterator);
      assert.equal(typeof op[Symbol.dispose], "function");
      assert.equal(text(yield* op), "ab\n");
      client.close();
      server.close();
    }),
);

bothModes(
  "results of every length from 1 to 80 bytes, at every offset, are exact and stay so while later reads fill the shared buffer",
  (mode) =>
    scenario(mode, function* () {
      const { server, client } = yield* connectedToEcho();
      // Bytes that differ from their neighbours, sent in one piece so that
      // each read starts at another offset of the read buffer.
      const lengths: number[] = [];
      for (let n = 1; n <= 80; n++) lengths.push(n, 81 - n);
      const total = lengths.reduce((sum, n) => sum + n, 0);
      const sent = new Uint8Array(total);
      for (let i = 0; i < total; i++) sent[i] = (i * 131 + 7) & 0xff;
      client.write(sent);
      client.write("\n"); // the echo server answers whole lines
      const results: Uint8Array[] = [];
      let at = 0;
      for (const n of lengths) {
        const bytes = yield* client.readBytes(n);
        assert.deepEqual(bytes, sent.subarray(at, at + n));
        results.push(bytes);
        at += n;
      }
      at = 0;
      for (const bytes of results) {
        assert.deepEqual(bytes, sent.subarray(at, at + bytes.length));
        at += bytes.length;
      }
      assert.equal(text(yield* client.readBytes(1)), "\n");
      client.close();
      server.close();
    }),
);

bothModes(
  "a result whose buffer the caller transferred away does not break later reads",
  (mode) =>
    scenario(mode, function* () {
      const { server, client } = yield* connectedToEcho();
      client.write("one\ntwo\nthree\n");
      const first = yield* client.readUntil("\n");
      assert.equal(text(first), "one\n");
      // Small results are views of a shared buffer; moving it to a worker
      // (or structuredClone with transfer) detaches it under the reader.
      detach(first);
      assert.equal(first.length, 0);
      assert.equal(text(yield* client.readUntil("\n")), "two\n");
      const third = yield* client.readBytes(3);
      detach(third);
      assert.equal(text(yield* client.readUntil("\n")), "ee\n");
      client.close();
      server.close();
    }),
);
