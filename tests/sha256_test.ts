// SHA-256 and HMAC-SHA256 in TypeScript (core/sha256.ts): the NIST and RFC 4231 test
// vectors, and agreement with crypto.subtle on random inputs around the block boundaries.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HmacSha256, sha256 } from "../core/sha256.ts";

const utf8 = (text: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(text);
const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const filled = (length: number, byte: number): Uint8Array<ArrayBuffer> => new Uint8Array(length).fill(byte);

/** Random bytes of the given length (getRandomValues fills at most 65536 at once). */
function random(length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
  return out;
}

async function subtleDigest(message: Uint8Array<ArrayBuffer>): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", message)));
}

async function subtleHmac(key: Uint8Array<ArrayBuffer>, message: Uint8Array<ArrayBuffer>): Promise<string> {
  const imported = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return hex(new Uint8Array(await crypto.subtle.sign("HMAC", imported, message)));
}

/** Lengths around the 64-byte block and the 56-byte padding limit, plus a spread up to 300. */
const LENGTHS = [0, 1, 2, 31, 32, 54, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 191, 192, 193, 255, 256, 300];

describe("sha256", () => {
  test("FIPS 180-4 / NIST examples", () => {
    assert.equal(hex(sha256(utf8(""))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert.equal(hex(sha256(utf8("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert.equal(
      hex(sha256(utf8("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))), // 448 bits
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    );
    assert.equal(
      hex(sha256(utf8("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"))), // 896 bits
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
    );
    assert.equal(hex(sha256(filled(1_000_000, 0x61))), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  });

  test("agrees with crypto.subtle for every length 0..300 and a few larger ones", async () => {
    const lengths = Array.from({ length: 301 }, (_, i) => i).concat([1000, 4096, 65537]);
    for (const length of lengths) {
      const message = random(length);
      assert.equal(hex(sha256(message)), await subtleDigest(message), `length ${length}`);
    }
  });

  test("hashes a view at its own offset and leaves the input unchanged", async () => {
    const backing = random(200);
    const copy = backing.slice();
    const view = backing.subarray(13, 13 + 70);
    assert.equal(hex(sha256(view)), await subtleDigest(view.slice()));
    assert.deepEqual(backing, copy);
  });
});

describe("HmacSha256", () => {
  // RFC 4231 §4: HMAC-SHA-256 test cases 1–4, 6 and 7 (5 is about truncated output).
  const rfc4231: Array<{ key: Uint8Array; data: Uint8Array; mac: string; what: string }> = [
    { what: "1: 20-byte key", key: filled(20, 0x0b), data: utf8("Hi There"), mac: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
    { what: "2: short key", key: utf8("Jefe"), data: utf8("what do ya want for nothing?"), mac: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
    { what: "3: 50 bytes of 0xdd", key: filled(20, 0xaa), data: filled(50, 0xdd), mac: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
    {
      what: "4: 25-byte key",
      key: Uint8Array.from({ length: 25 }, (_, i) => i + 1),
      data: filled(50, 0xcd),
      mac: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    },
    {
      what: "6: key longer than the block",
      key: filled(131, 0xaa),
      data: utf8("Test Using Larger Than Block-Size Key - Hash Key First"),
      mac: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    },
    {
      what: "7: key and data longer than the block",
      key: filled(131, 0xaa),
      data: utf8(
        "This is a test using a larger than block-size key and a larger than block-size data. " +
          "The key needs to be hashed before being used by the HMAC algorithm.",
      ),
      mac: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    },
  ];

  for (const { what, key, data, mac } of rfc4231) {
    test(`RFC 4231 test case ${what}`, () => {
      assert.equal(hex(new HmacSha256(key).mac(data)), mac);
    });
  }

  test("agrees with crypto.subtle: keys shorter than, equal to and longer than the block; messages 0..300 bytes", async () => {
    for (const keyLength of [1, 20, 32, 63, 64, 65, 100, 200]) {
      const key = random(keyLength);
      const hmac = new HmacSha256(key);
      for (const length of LENGTHS) {
        const message = random(length);
        assert.equal(hex(hmac.mac(message)), await subtleHmac(key, message), `key ${keyLength}, message ${length}`);
      }
    }
  });

  test("the same instance gives the same MAC every time; the key is copied", () => {
    const key = utf8("k");
    const hmac = new HmacSha256(key);
    const first = hex(hmac.mac(utf8("message")));
    hmac.mac(random(500)); // scratch space is reused between calls
    assert.equal(hex(hmac.mac(utf8("message"))), first);
    key[0] ^= 1;
    assert.equal(hex(hmac.mac(utf8("message"))), first);
    assert.notEqual(hex(new HmacSha256(key).mac(utf8("message"))), first);
  });

  test("a key that is not bytes is a TypeError that says what it got", () => {
    assert.throws(() => new HmacSha256("key" as unknown as Uint8Array), /must be a Uint8Array, got string/);
    assert.throws(() => new HmacSha256(null as unknown as Uint8Array), /got null/);
  });
});
