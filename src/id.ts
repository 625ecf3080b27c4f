/**
 * Session ids, the store keys derived from them, and cookie signatures.
 *
 * @module
 */

import { encodeBase64url } from "./base64url.ts";
import { HmacSha256, sha256Hex } from "./sha256.ts";

/** Random bytes in an id: 256 bits, twice the 128 that OWASP asks for. */
const ID_BYTES = 32;
const WELL_FORMED_ID = /^[A-Za-z0-9_-]{43}$/;
const random = new Uint8Array(ID_BYTES);

/** A new session id: 32 bytes from `crypto.getRandomValues`, base64url. */
export function generateId(): string {
  return encodeBase64url(crypto.getRandomValues(random));
}

/** Whether `value` has the form of an id made by {@linkcode generateId}. */
export function isWellFormedId(value: string): boolean {
  return WELL_FORMED_ID.test(value);
}

/**
 * The key a store keeps the session under: the SHA-256 hex digest of the id,
 * so that whoever reads the store (a backup, a log) learns no usable id.
 */
export function storeKey(id: string): string {
  return sha256Hex(id);
}

/** What {@linkcode Signer.verify} found in a cookie value. */
export interface VerifiedId {
  /** The session id. */
  id: string;
  /** The value was signed with an older secret and should be signed again. */
  stale: boolean;
}

/**
 * Signs ids as `id.signature` with HMAC-SHA256: the first secret signs, every
 * secret verifies, so that a secret can be rotated without logging anyone out.
 */
export class Signer {
  readonly #keys: HmacSha256[];

  constructor(secrets: readonly string[]) {
    this.#keys = secrets.map((secret) => new HmacSha256(secret));
  }

  /** `id.signature`, signed with the first secret. */
  sign(id: string): string {
    return `${id}.${this.#keys[0].signBase64url(id)}`;
  }

  /**
   * The id in a signed cookie value, or `null` when it is malformed or no
   * secret's signature matches. The comparison takes the same time wherever
   * the signatures differ.
   */
  verify(value: string): VerifiedId | null {
    const dot = value.indexOf(".");
    if (dot === -1) return null;
    const id = value.slice(0, dot);
    if (!isWellFormedId(id)) return null;
    const signature = value.slice(dot + 1);
    for (let i = 0; i < this.#keys.length; i++) {
      if (constantTimeEqual(this.#keys[i].signBase64url(id), signature)) {
        return { id, stale: i > 0 };
      }
    }
    return null;
  }
}

/**
 * Compares two strings in time that depends only on their lengths, which are
 * public (every signature is 43 characters).
 */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) {
    difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  }
  return difference === 0;
}
