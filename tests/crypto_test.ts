import assert from "node:assert/strict";
import { HmacSha256, sha256Hex } from "../src/hmac.ts";
import {
  constantTimeEqual,
  CookieVerifier,
  generateId,
  isWellFormedId,
  Signer,
  storeKey,
} from "../src/id.ts";

const encoder = new TextEncoder();
const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const fromHex = (text: string) =>
  new Uint8Array(text.match(/../g)!.map((pair) => parseInt(pair, 16)));

function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) {
    crypto.getRandomValues(bytes.subarray(i, Math.min(length, i + 65536)));
  }
  return bytes;
}

Deno.test("sha256Hex: the NIST examples, and Web Crypto on strings as UTF-8", async () => {
  assert.equal(
    sha256Hex("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
  for (const text of ["", "ключ ✓ 🍰", "a".repeat(1000), generateId()]) {
    const expected = new Uint8Array(
      await crypto.subtle.digest("SHA-256", encoder.encode(text)),
    );
    assert.equal(sha256Hex(text), hex(expected));
  }
});

Deno.test("HmacSha256: the RFC 4231 test cases", () => {
  const aa131 = new Uint8Array(131).fill(0xaa);
  const cases: Array<[Uint8Array | string, Uint8Array | string, string]> = [
    [
      new Uint8Array(20).fill(0x0b),
      "Hi There",
      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ],
    [
      "Jefe",
      "what do ya want for nothing?",
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ],
    [
      new Uint8Array(20).fill(0xaa),
      new Uint8Array(50).fill(0xdd),
      "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ],
    [
      fromHex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
      new Uint8Array(50).fill(0xcd),
      "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ],
    [
      aa131,
      "Test Using Larger Than Block-Size Key - Hash Key First",
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ],
    [
      aa131,
      "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
      "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ],
  ];
  for (const [key, message, mac] of cases) {
    const hmac = new HmacSha256(key);
    assert.equal(hex(hmac.sign(message)), mac);
    // The prepared states are copied, never consumed: signing again agrees.
    assert.equal(hex(hmac.sign(message)), mac);
    assert.equal(
      hmac.signBase64url(message),
      fromHex(mac).toBase64({ alphabet: "base64url", omitPadding: true }),
    );
  }
});

Deno.test("HmacSha256 agrees with Web Crypto for keys shorter than, equal to and longer than a block", async () => {
  for (const keyLength of [1, 20, 32, 63, 64, 65, 200]) {
    const key = randomBytes(keyLength);
    const hmac = new HmacSha256(key);
    const webKey = await crypto.subtle.importKey(
      "raw",
      key,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    for (const length of [0, 1, 43, 55, 56, 64, 100, 1000]) {
      const message = randomBytes(length);
      const expected = new Uint8Array(
        await crypto.subtle.sign("HMAC", webKey, message),
      );
      assert.deepEqual(
        hmac.sign(message),
        expected,
        `key ${keyLength}, message ${length}`,
      );
    }
  }
});

Deno.test("ids: 256 random bits, base64url, all different", () => {
  const ids = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const id = generateId();
    assert.ok(isWellFormedId(id), id);
    ids.add(id);
  }
  assert.equal(ids.size, 10_000);
  // Every position takes many values: no fixed or counter-like part.
  const sample = [...ids].slice(0, 1000);
  for (let position = 0; position < 42; position++) {
    const seen = new Set(sample.map((id) => id[position]));
    assert.ok(seen.size > 40, `position ${position}: ${seen.size} symbols`);
  }
});

Deno.test("isWellFormedId refuses anything but 43 base64url characters", () => {
  for (
    const bad of [
      "",
      "a".repeat(42),
      "a".repeat(44),
      "a".repeat(42) + "=",
      "a".repeat(42) + "+",
      "a".repeat(42) + "é",
      "../../etc/passwd",
    ]
  ) {
    assert.equal(isWellFormedId(bad), false, bad);
  }
});

Deno.test("the store key is the SHA-256 hex digest of the id, never the id", () => {
  const id = generateId();
  assert.equal(storeKey(id), sha256Hex(id));
  assert.match(storeKey(id), /^[0-9a-f]{64}$/);
  assert.ok(!storeKey(id).includes(id));
});

Deno.test("Signer: the first secret signs, every secret verifies, old ones flagged stale", () => {
  const id = generateId();
  const old = new Signer(["old secret"]);
  const rotated = new Signer(["new secret", "old secret"]);
  const signed = rotated.sign(id);
  assert.match(signed, /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(rotated.verify(signed), { id, stale: false });
  assert.deepEqual(rotated.verify(old.sign(id)), { id, stale: true });
  assert.equal(new Signer(["new secret"]).verify(old.sign(id)), null);
});

/** Values that must never verify, made from a validly signed `id.signature`. */
function forgeriesOf(signed: string): string[] {
  const [id, signature] = signed.split(".");
  const flip = (text: string, at: number) =>
    text.slice(0, at) + (text[at] === "A" ? "B" : "A") + text.slice(at + 1);
  return [
    id,
    `${id}.`,
    `${generateId()}.${signature}`,
    `${id}.${flip(signature, 0)}`,
    `${id}.${flip(signature, 42)}`,
    `${flip(id, 10)}.${signature}`,
    `${id}.${signature}x`,
    `${id}.${signature.slice(0, -1)}`,
    `${id}.${signature}.${signature}`,
    ` ${signed}`,
    `../../etc/passwd.${signature}`,
    `${id}.${"A".repeat(43)}`,
  ];
}

Deno.test("Signer refuses forged, tampered and malformed values", () => {
  const signer = new Signer(["s3cret"]);
  for (const bad of forgeriesOf(signer.sign(generateId()))) {
    assert.equal(signer.verify(bad), null, bad);
  }
});

Deno.test("CookieVerifier: a remembered value never lets a forged or tampered one through", () => {
  const signer = new Signer(["s3cret"]);
  const verifier = new CookieVerifier(signer);
  const id = generateId();
  const signed = signer.sign(id);
  const first = verifier.verify(signed)!;
  assert.deepEqual(
    { ...first },
    { value: signed, id, key: storeKey(id), stale: false, remembered: false },
  );
  assert.equal(verifier.size, 0, "nothing remembered until told");
  verifier.remember(first);
  assert.equal(verifier.verify(signed)!.remembered, true);
  for (const bad of forgeriesOf(signed)) {
    assert.equal(verifier.verify(bad), null, bad);
  }
  verifier.forget(first);
  assert.equal(verifier.verify(signed)!.remembered, false);
});

Deno.test("CookieVerifier: unsigned ids are checked for form; at most `capacity` values, oldest dropped first", () => {
  const verifier = new CookieVerifier(null, 3);
  assert.equal(verifier.verify("a".repeat(42)), null);
  assert.equal(verifier.verify("../../etc/passwd"), null);
  const ids = Array.from({ length: 5 }, () => generateId());
  for (const id of ids) {
    const cookie = verifier.verify(id)!;
    assert.equal(cookie.id, id);
    assert.equal(cookie.key, storeKey(id));
    verifier.remember(cookie);
  }
  assert.equal(verifier.size, 3);
  assert.deepEqual(
    ids.map((id) => verifier.verify(id)!.remembered),
    [false, false, true, true, true],
  );
});

Deno.test("constantTimeEqual is plain equality", () => {
  assert.equal(constantTimeEqual("abc", "abc"), true);
  assert.equal(constantTimeEqual("abc", "abd"), false);
  assert.equal(constantTimeEqual("abc", "ab"), false);
  assert.equal(constantTimeEqual("", ""), true);
});
