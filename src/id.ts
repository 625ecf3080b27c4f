/**
 * Session ids, the store keys derived from them, and cookie signatures.
 *
 * @module
 */

import { HmacSha256, sha256Hex } from "./hmac.ts";
import { Memo } from "./memo.ts";
import type { SessionRecord } from "./store.ts";

/** Random bytes in an id: 256 bits, twice the 128 that OWASP asks for. */
const ID_BYTES = 32;
const WELL_FORMED_ID = /^[A-Za-z0-9_-]{43}$/;
const random = new Uint8Array(ID_BYTES);

/** A new session id: 32 bytes from `crypto.getRandomValues`, base64url. */
export function generateId(): string {
  return crypto.getRandomValues(random).toBase64(BASE64URL);
}

/** Base64url without padding, as ids and sealed cookies are written. */
export const BASE64URL = { alphabet: "base64url", omitPadding: true } as const;

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

/**
 * A session's handle, fit for logs and device lists: derived from its store
 * key by another digest, so it is not the id, and neither the id nor the key
 * can be found from it. 22 base64url characters (128 bits).
 */
export function handleOf(key: string): string {
  return HANDLE_HMAC.sign(key).subarray(0, 16).toBase64(BASE64URL);
}

/** A fixed key: the handle is a keyed digest, apart from any other use of SHA-256. */
const HANDLE_HMAC = new HmacSha256("@denokit/session handle");

/**
 * The new id of a rotation, sealed with the old one for its forwarding
 * record: XOR with a pad that only the old id gives (an HMAC keyed by it),
 * so whoever reads the store (which holds only the old id's digest) learns
 * nothing usable.
 */
export function sealSuccessor(oldId: string, newId: string): string {
  return xorPad(oldId, Uint8Array.fromBase64(newId, BASE64URL))
    .toBase64(BASE64URL);
}

/**
 * The session a rotation's forwarding record leads `oldId` to while its
 * grace runs: the new id sealed in it, opened with the old one, and its
 * store key, which must be the one the record moved to; null otherwise.
 */
export function successorOf(
  oldId: string,
  forward: SessionRecord,
  now: number,
): { id: string; key: string } | null {
  if (forward.successor === undefined || now >= forward.absoluteExpiresAt) {
    return null;
  }
  const id = openSuccessor(oldId, forward.successor);
  if (id === null) return null;
  const key = storeKey(id);
  return key === forward.movedTo ? { id, key } : null;
}

/** The new id in `sealed`, opened with the old id; null if it is not one. */
function openSuccessor(oldId: string, sealed: string): string | null {
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.fromBase64(sealed, BASE64URL);
  } catch {
    return null;
  }
  if (bytes.length !== ID_BYTES) return null;
  return xorPad(oldId, bytes).toBase64(BASE64URL);
}

function xorPad(oldId: string, bytes: Uint8Array): Uint8Array {
  const pad = new HmacSha256(oldId).sign("@denokit/session successor");
  return bytes.map((byte, i) => byte ^ pad[i]);
}

/** What {@linkcode Signer.verify} found in a cookie value. */
export interface VerifiedId {
  /** The session id. */
  id: string;
  /** The value was signed with an older secret and should be signed again. */
  stale: boolean;
}

/** The shortest secret accepted: HMAC-SHA256 and AES-256 want 32-byte keys. */
const MIN_SECRET_BYTES = 32;
const encoder = new TextEncoder();

/**
 * `secrets` if it is a non-empty array of strong secrets: at least 32 bytes
 * each, and not repetitive (a short or repetitive one is found offline from
 * one cookie); a TypeError from `owner` that says how to make one otherwise.
 */
export function checkSecrets(
  owner: string,
  use: string,
  secrets: unknown,
): string[] {
  if (!Array.isArray(secrets) || secrets.length === 0) {
    throw new TypeError(
      `${owner}: secrets must be a non-empty array of strings`,
    );
  }
  for (const [i, secret] of secrets.entries()) {
    if (typeof secret !== "string") {
      throw new TypeError(
        `${owner}: secrets[${i}] must be a string, got ${typeof secret}`,
      );
    }
    const bytes = encoder.encode(secret).length;
    if (bytes < MIN_SECRET_BYTES || new Set(secret).size < 8) {
      throw new TypeError(
        `${owner}: secrets[${i}] is too weak for ${use} (${bytes} bytes${
          bytes >= MIN_SECRET_BYTES ? ", too few distinct characters" : ""
        }): use at least ${MIN_SECRET_BYTES} random bytes, e.g. the output of deno eval "console.log(crypto.getRandomValues(new Uint8Array(32)).toHex())"`,
      );
    }
  }
  return secrets;
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

/** A session cookie value that passed {@linkcode CookieVerifier.verify}. */
export interface VerifiedCookie {
  /** The cookie value, copied out of the header it came in. */
  value: string;
  /** The session id (the value itself when unsigned). */
  id: string;
  /** The store key: {@linkcode storeKey} of the id. */
  key: string;
  /** Signed with an older secret: to be signed afresh. */
  stale: boolean;
  /** Found among the values remembered, so not checked again. */
  remembered: boolean;
}

/** How many cookie values are remembered: verified ones by a {@linkcode CookieVerifier}, opened ones by a CookieStore. */
export const REMEMBERED_COOKIES = 4096;

/**
 * Checks session cookie values (well-formed id, and with secrets the HMAC)
 * and derives their store keys, remembering the values whose session the
 * store held, so that a returning cookie costs one Map lookup instead of a
 * SHA-256 (and an HMAC): about 1 µs of a request's 10 under load, 2 µs with
 * secrets.
 *
 * Only a value that passed every check, and whose session was found, is
 * remembered; a value is matched only by exact equality, so a forged or
 * altered value never matches and is checked in full. At most
 * {@linkcode REMEMBERED_COOKIES} values are kept, the oldest dropped first.
 */
export class CookieVerifier {
  readonly #signer: Signer | null;
  readonly #remembered: Memo<VerifiedCookie>;

  constructor(signer: Signer | null, capacity = REMEMBERED_COOKIES) {
    this.#signer = signer;
    this.#remembered = new Memo(capacity);
  }

  /** How many values are remembered. */
  get size(): number {
    return this.#remembered.size;
  }

  /** The id and store key of a cookie value, or `null` if it is not valid. */
  verify(value: string): VerifiedCookie | null {
    const known = this.#remembered.get(value);
    if (known !== undefined) return known;
    let id: string;
    let stale = false;
    if (this.#signer === null) {
      if (!isWellFormedId(value)) return null;
      id = value;
    } else {
      const verified = this.#signer.verify(value);
      if (verified === null) return null;
      id = verified.id;
      stale = verified.stale;
    }
    // Copies: a slice would keep the whole Cookie header alive while
    // remembered.
    value = copy(value);
    id = this.#signer === null ? value : copy(id);
    return { value, id, key: storeKey(id), stale, remembered: false };
  }

  /** Remembers a verified value whose session exists. */
  remember(cookie: VerifiedCookie): void {
    if (cookie.remembered) return;
    this.#remembered.set(cookie.value, { ...cookie, remembered: true });
  }

  /** Forgets a value, when its session is gone. */
  forget(cookie: VerifiedCookie): void {
    this.#remembered.delete(cookie.value);
  }
}

/** A string with its own storage, not a slice of a larger one. */
export function copy(text: string): string {
  // Concatenating makes a rope; slicing the rope flattens it into a new
  // string of its own.
  return (text + " ").slice(0, -1);
}
