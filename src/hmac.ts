/**
 * HMAC-SHA256 (RFC 2104) on the platform's SHA-256 (`node:crypto`), with the
 * key's padded blocks hashed once: each signature then costs two copies of a
 * prepared hash state instead of a key setup.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";

const BLOCK_BYTES = 64;
const encoder = new TextEncoder();

/** HMAC-SHA256 under one key. */
export class HmacSha256 {
  /** SHA-256 states that have absorbed the key XOR ipad, and XOR opad. */
  readonly #inner: Hash;
  readonly #outer: Hash;

  constructor(key: Uint8Array | string) {
    let bytes = typeof key === "string" ? encoder.encode(key) : key;
    if (bytes.length > BLOCK_BYTES) {
      bytes = createHash("sha256").update(bytes).digest();
    }
    const block = new Uint8Array(BLOCK_BYTES);
    block.set(bytes);
    this.#inner = createHash("sha256").update(block.map((b) => b ^ 0x36));
    this.#outer = createHash("sha256").update(block.map((b) => b ^ 0x5c));
    block.fill(0);
  }

  /** The 32-byte MAC of `message` (a string is signed as UTF-8). */
  sign(message: Uint8Array | string): Uint8Array {
    const inner = this.#inner.copy().update(message).digest();
    return new Uint8Array(this.#outer.copy().update(inner).digest());
  }

  /** The MAC of `message` as unpadded base64url: 43 characters. */
  signBase64url(message: Uint8Array | string): string {
    const inner = this.#inner.copy().update(message).digest();
    return this.#outer.copy().update(inner).digest("base64url");
  }
}

/** The SHA-256 hex digest of `message` (a string as UTF-8). */
export function sha256Hex(message: Uint8Array | string): string {
  return createHash("sha256").update(message).digest("hex");
}
