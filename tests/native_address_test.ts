// The address records shared by TCP and UDP (src/native/address.ts over
// zig/io/address.zig): one parser and one formatter, in native code.

import assert from "node:assert/strict";
import {
  ADDRESS_BYTES,
  decodeAddress,
  describeAddress,
  encodeAddress,
  FAMILY_IP4,
  FAMILY_IP6,
} from "../src/native/address.ts";

function roundTrip(hostname: string, port = 1): string {
  const record = new Uint8Array(ADDRESS_BYTES);
  const family = encodeAddress(hostname, port, record);
  assert.ok(family > 0, `${hostname} should parse, got ${family}`);
  const decoded = decodeAddress(record);
  assert.equal(decoded.port, port);
  return decoded.hostname;
}

Deno.test("IP literals come back in their shortest form, zones included", () => {
  assert.equal(roundTrip("127.0.0.1", 53), "127.0.0.1");
  assert.equal(roundTrip("0:0:0:0:0:0:0:1", 65535), "::1");
  assert.equal(roundTrip("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
  assert.equal(roundTrip("2001:DB8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
  assert.equal(roundTrip("fe80:0::1%3"), "fe80::1%3");
  assert.equal(roundTrip("::ffff:10.0.0.1"), "::ffff:10.0.0.1");
});

Deno.test('"localhost" encodes as 127.0.0.1, names and junk do not encode', () => {
  const record = new Uint8Array(ADDRESS_BYTES);
  assert.equal(encodeAddress("localhost", 80, record), FAMILY_IP4);
  assert.deepEqual(decodeAddress(record), { hostname: "127.0.0.1", port: 80 });
  assert.equal(encodeAddress("::", 0, record), FAMILY_IP6);
  for (const text of ["", "example.com", "256.0.0.1", "fe80::1%", "::1::2"]) {
    assert.ok(
      encodeAddress(text, 1, record) < 0,
      `${JSON.stringify(text)} should be refused`,
    );
  }
});

Deno.test("a record that is no address is a RangeError, not text", () => {
  assert.throws(
    () => decodeAddress(new Uint8Array(ADDRESS_BYTES)),
    RangeError,
  );
});

Deno.test("messages put IPv6 hosts in brackets", () => {
  assert.equal(describeAddress({ hostname: "::1", port: 80 }), "[::1]:80");
  assert.equal(
    describeAddress({ hostname: "10.0.0.1", port: 9 }),
    "10.0.0.1:9",
  );
});
