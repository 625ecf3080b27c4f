import assert from "node:assert/strict";
import { encodeBase64url } from "../src/base64url.ts";
import { HmacSha256, sha256, sha256Hex } from "../src/sha256.ts";
import {
  constantTimeEqual,
  CookieVerifier,
  generateId,
  isWellFormedId,
  Signer,
  storeKey,
} from "../src/id.ts";

const encoder = new TextEncoder();

function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) {
    crypto.getRandomValues(bytes.subarray(i, Math.min(length, i + 65536)));
  }
  return bytes;
}

Deno.test("sha256 agrees with Web Crypto for every length across block boundaries", async () => {
  for (let length = 0; length <= 300; length++) {
    const message = randomBytes(length);
    const expected = new Uint8Array(
      await crypto.subtle.digest("SHA-256", message),
    );
    assert.deepEqual(sha256(message), expected, `length ${length}`);
  }
  const large = randomBytes(1 << 20);
  assert.deepEqual(
    sha256(large),
    new Uint8Array(await crypto.subtle.digest("SHA-256", large)),
  );
});

Deno.test("sha256 hashes strings as UTF-8, and sha256Hex is its hex", async () => {
  for (const text of ["", "abc", "ключ ✓ 🍰", "a".repeat(1000)]) {
    const expected = new Uint8Array(
      await crypto.subtle.digest("SHA-256", encoder.encode(text)),
    );
    assert.deepEqual(sha256(text), expected);
    assert.equal(
      sha256Hex(text),
      Array.from(expected, (b) => b.toString(16).padStart(2, "0")).join(""),
    );
  }
  assert.equal(
    sha256Hex("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

Deno.test("HmacSha256 agrees with Web Crypto for keys shorter than, equal to and longer than a block", async () => {
  for (const keyLength of [1, 20, 63, 64, 65, 200]) {
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
      assert.equal(hmac.signBase64url(message), encodeBase64url(expected));
    }
  }
});

Deno.test("encodeBase64url matches btoa with the URL alphabet and no padding", () => {
  for (let length = 0; length < 70; length++) {
    const bytes = randomBytes(length);
    const expected = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-")
      .replaceAll("/", "_").replace(/=+$/, "");
    assert.equal(encodeBase64url(bytes), expected);
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
