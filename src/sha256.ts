/**
 * SHA-256 and HMAC-SHA256 in plain TypeScript, synchronous.
 *
 * Why not Web Crypto: `crypto.subtle.digest` and `sign` cost about 23 µs a call
 * here (mostly the async hop into the runtime), twice a bare `Deno.serve`
 * request. Session ids and signatures are short (one 64-byte block), so a
 * synchronous hash in JavaScript costs about a microsecond, and an HMAC whose
 * padded keys are absorbed once at start-up costs two compressions. The tests
 * check every function here against Web Crypto.
 *
 * @module
 */

import { encodeBase64url } from "./base64url.ts";

const K = new Int32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);

const INITIAL_STATE = new Int32Array([
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
]);

// One message schedule, reused: hashing is synchronous, so no call overlaps.
const W = new Int32Array(64);

/** Absorbs the 64-byte block at `offset` of `bytes` into `state`. */
function compress(state: Int32Array, bytes: Uint8Array, offset: number): void {
  for (let i = 0; i < 16; i++) {
    const p = offset + i * 4;
    W[i] = (bytes[p] << 24) | (bytes[p + 1] << 16) | (bytes[p + 2] << 8) |
      bytes[p + 3];
  }
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15];
    const w2 = W[i - 2];
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^
      (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^
      (w2 >>> 10);
    W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
  }
  let a = state[0], b = state[1], c = state[2], d = state[3];
  let e = state[4], f = state[5], g = state[6], h = state[7];
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^
      ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^
      ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0] + a) | 0;
  state[1] = (state[1] + b) | 0;
  state[2] = (state[2] + c) | 0;
  state[3] = (state[3] + d) | 0;
  state[4] = (state[4] + e) | 0;
  state[5] = (state[5] + f) | 0;
  state[6] = (state[6] + g) | 0;
  state[7] = (state[7] + h) | 0;
}

const encoder = new TextEncoder();

// Reused buffers: allocating a typed array costs about as much as a whole
// compression here, and hashing is synchronous, so no two calls overlap.
let scratch = new Uint8Array(128);
const STATE = new Int32Array(8);
const DIGEST = new Uint8Array(32);

/** Copies `message` into `scratch` (UTF-8 for strings); returns its length. */
function load(message: Uint8Array | string): number {
  if (typeof message !== "string") {
    reserve(message.length);
    scratch.set(message);
    return message.length;
  }
  const length = message.length;
  reserve(length);
  for (let i = 0; i < length; i++) {
    const code = message.charCodeAt(i);
    if (code > 0x7f) return load(encoder.encode(message));
    scratch[i] = code;
  }
  return length;
}

function reserve(length: number): void {
  const needed = (length + 72) & ~63;
  if (needed > scratch.length) scratch = new Uint8Array(needed);
}

/**
 * Hashes the `length` bytes at the start of `scratch`, continuing from
 * `start`, a state that has already absorbed `absorbed` bytes (a multiple of
 * 64). Leaves the digest in `DIGEST`.
 */
function finish(start: Int32Array, absorbed: number, length: number): void {
  const end = (length + 72) & ~63;
  scratch[length] = 0x80;
  scratch.fill(0, length + 1, end - 8);
  const bits = (absorbed + length) * 8;
  const high = Math.floor(bits / 0x100000000);
  scratch[end - 8] = high >>> 24;
  scratch[end - 7] = high >>> 16;
  scratch[end - 6] = high >>> 8;
  scratch[end - 5] = high;
  scratch[end - 4] = bits >>> 24;
  scratch[end - 3] = bits >>> 16;
  scratch[end - 2] = bits >>> 8;
  scratch[end - 1] = bits;
  STATE.set(start);
  for (let offset = 0; offset < end; offset += 64) {
    compress(STATE, scratch, offset);
  }
  for (let i = 0; i < 8; i++) {
    const word = STATE[i];
    DIGEST[i * 4] = word >>> 24;
    DIGEST[i * 4 + 1] = word >>> 16;
    DIGEST[i * 4 + 2] = word >>> 8;
    DIGEST[i * 4 + 3] = word;
  }
}

const HEX: string[] = Array.from(
  { length: 256 },
  (_, i) => i.toString(16).padStart(2, "0"),
);

/** SHA-256 of `message` (a string is hashed as UTF-8). */
export function sha256(message: Uint8Array | string): Uint8Array {
  finish(INITIAL_STATE, 0, load(message));
  return DIGEST.slice();
}

/** SHA-256 of `message` as 64 lowercase hex digits. */
export function sha256Hex(message: Uint8Array | string): string {
  finish(INITIAL_STATE, 0, load(message));
  let hex = "";
  for (let i = 0; i < 32; i++) hex += HEX[DIGEST[i]];
  return hex;
}

/**
 * HMAC-SHA256 with one key, its padded inner and outer blocks absorbed once
 * here so that each signature of a short message costs two compressions.
 */
export class HmacSha256 {
  readonly #inner: Int32Array;
  readonly #outer: Int32Array;

  constructor(key: Uint8Array | string) {
    let keyBytes = typeof key === "string" ? encoder.encode(key) : key;
    if (keyBytes.length > 64) keyBytes = sha256(keyBytes);
    const innerPad = new Uint8Array(64).fill(0x36);
    const outerPad = new Uint8Array(64).fill(0x5c);
    for (let i = 0; i < keyBytes.length; i++) {
      innerPad[i] ^= keyBytes[i];
      outerPad[i] ^= keyBytes[i];
    }
    this.#inner = INITIAL_STATE.slice();
    compress(this.#inner, innerPad, 0);
    this.#outer = INITIAL_STATE.slice();
    compress(this.#outer, outerPad, 0);
  }

  /** The 32-byte MAC of `message` (a string is signed as UTF-8). */
  sign(message: Uint8Array | string): Uint8Array {
    this.#sign(message);
    return DIGEST.slice();
  }

  /** The MAC of `message` in unpadded base64url (43 characters). */
  signBase64url(message: Uint8Array | string): string {
    this.#sign(message);
    return encodeBase64url(DIGEST);
  }

  #sign(message: Uint8Array | string): void {
    finish(this.#inner, 64, load(message));
    scratch.set(DIGEST);
    finish(this.#outer, 64, 32);
  }
}
