/**
 * A store that keeps nothing on the server: the whole session travels in the
 * cookie, encrypted and authenticated.
 *
 * @module
 */

import {
  createCipheriv,
  createDecipheriv,
  type DecipherGCM,
  hkdfSync,
} from "node:crypto";
import {
  BASE64URL,
  checkSecrets,
  copy,
  REMEMBERED_COOKIES,
  storeKey,
} from "../id.ts";
import { Memo } from "../memo.ts";
import { isRecord } from "../record.ts";
import type {
  SessionRecord,
  SessionStore,
  StoredSession,
  WriteCondition,
} from "../store.ts";

/** Options for {@linkcode CookieStore}. */
export interface CookieStoreOptions {
  /**
   * The keys, as secrets of at least 32 bytes each (32 random bytes in hex):
   * the first seals, every one opens, so that a secret can be rotated
   * without logging anyone out (a cookie sealed with an older one is sealed
   * again with the first when next sent).
   */
  secrets: string[];
}

/** What a sealed cookie holds, opened. */
export interface Unsealed {
  /** The session id, random, kept inside so that the session has one. */
  id: string;
  /** The id's store key (for its handle). */
  key: string;
  record: SessionRecord;
  /** Sealed with an older secret: to be sealed afresh. */
  stale: boolean;
}

/** The cookie store's work, as the middleware calls it. */
export interface Sealer {
  /** The cookie value holding `record`, sealed with the first secret. */
  seal(id: string, key: string, record: SessionRecord, context: string): string;
  /** What `value` holds, or null if it is not a cookie sealed by one of the secrets for `context`. */
  open(value: string, context: string): Unsealed | null;
}

/** An opened cookie as remembered: its record still as JSON, to be parsed afresh (a copy) each time. */
interface Opened {
  id: string;
  key: string;
  json: string;
  stale: boolean;
}

/** How many characters of opened cookies a CookieStore remembers in all. */
const REMEMBERED_CHARACTERS = 4 * 1024 * 1024;

/** The format's version, the first byte: a later format can read this one. */
const FORMAT = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

let sealerOfStore: (store: CookieStore) => Sealer;

/** The sealer of `store` when it is a {@linkcode CookieStore}, else null. */
export function sealerOf(store: SessionStore): Sealer | null {
  return store instanceof CookieStore ? sealerOfStore(store) : null;
}

/**
 * Sessions kept in the cookie itself, as Django's `signed_cookies` backend,
 * but encrypted as well as authenticated (AES-256-GCM, a 96-bit random IV
 * per cookie, the cookie's name bound in as associated data, keys derived
 * from the secrets with HKDF-SHA256). Nothing is stored on the server, so
 * it scales with no shared state; in return:
 *
 * - a logged-out (flushed) or rotated-away cookie still opens the data it
 *   held until its deadline, if someone kept a copy (replay): the server has
 *   nothing to revoke;
 * - concurrent requests are not merged: the last response's cookie wins;
 * - every request carries the whole session, and a cookie is at most 4,096
 *   bytes (name, value and attributes): a larger session makes the response
 *   fail with a `SessionTooLargeError` before anything is sent, and the
 *   previous cookie stays valid.
 *
 * Timeouts, `rotate`, `flush`, `setExpiry` and `wasExpired` work as with the
 * other stores: the deadlines are sealed inside and checked on every read,
 * and a touch re-seals the cookie at most once per `touchInterval`. A
 * tampered, truncated or foreign cookie is a new, empty session. It is not a
 * `UserIndex`, and the store's own methods are not for calling: it is only
 * given to `withSession` (or `SessionManager`) as its `store`, which then
 * takes no `secrets` of its own.
 *
 * @example
 * ```ts
 * import { CookieStore, getSession, withSession } from "@denokit/session";
 *
 * const store = new CookieStore({
 *   secrets: ["0d3e6a1f9b8c47e2a5d4c3b2a19f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7"],
 * });
 * const handler = withSession(async (req) => {
 *   const session = await getSession(req);
 *   session.set("theme", "dark");
 *   return new Response("kept in the cookie");
 * }, { store, idleTimeout: 1800 });
 * ```
 */
export class CookieStore implements SessionStore {
  static {
    sealerOfStore = (store) => store.#sealer;
  }

  readonly #sealer: Sealer;

  /** Derives the keys; throws a TypeError for missing or weak secrets. */
  constructor(options: CookieStoreOptions) {
    const secrets = checkSecrets(
      "CookieStore",
      "an encryption key",
      (options as Partial<CookieStoreOptions> | undefined)?.secrets,
    );
    const keys = secrets.map((secret) =>
      new Uint8Array(
        hkdfSync(
          "sha256",
          secret,
          new Uint8Array(0),
          "@denokit/session CookieStore AES-256-GCM",
          32,
        ),
      )
    );
    // A returning cookie (the same value, until a write or a touch seals a
    // new one) is not decrypted again: what an exact match held is known.
    // One memo per cookie name, the context a value is sealed for.
    const memos = new Map<string, Memo<Opened>>();
    const memoOf = (context: string) => {
      let memo = memos.get(context);
      if (memo === undefined) {
        memo = new Memo(REMEMBERED_COOKIES, REMEMBERED_CHARACTERS);
        memos.set(context, memo);
      }
      return memo;
    };
    this.#sealer = {
      seal: (id, key, record, context) => {
        const json = JSON.stringify(record);
        const value = seal(keys[0], id, json, context);
        memoOf(context).set(value, { id, key, json, stale: false });
        return value;
      },
      open: (value, context) => {
        const memo = memoOf(context);
        let found = memo.get(value);
        if (found === undefined) {
          const unsealed = open(keys, value, context);
          if (unsealed === null) return null;
          found = { ...unsealed, key: storeKey(unsealed.id) };
          // A copy: a slice would keep the whole Cookie header alive.
          memo.set(copy(value), found);
        }
        const { id, key, json, stale } = found;
        // Checked when first opened: parsed, it is a record.
        const record = JSON.parse(json) as SessionRecord;
        return { id, key, record, stale };
      },
    };
  }

  /** Not for calling: the session is in the cookie. Rejects with a TypeError. */
  get(_key: string): Promise<StoredSession | null> {
    return Promise.reject(notAStore("get"));
  }

  /** Not for calling: the session is in the cookie. Rejects with a TypeError. */
  set(
    _key: string,
    _record: SessionRecord,
    _condition: WriteCondition,
  ): Promise<string | null> {
    return Promise.reject(notAStore("set"));
  }

  /** Not for calling: the session is in the cookie. Rejects with a TypeError. */
  delete(_key: string): Promise<void> {
    return Promise.reject(notAStore("delete"));
  }
}

function notAStore(method: string): TypeError {
  return new TypeError(
    `CookieStore.${method}: a CookieStore keeps sessions in the cookie, not under keys; give it to withSession as its store`,
  );
}

function seal(
  key: Uint8Array,
  id: string,
  json: string,
  context: string,
): string {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(encoder.encode(context));
  const body = cipher.update(`{"id":${JSON.stringify(id)},"record":${json}}`);
  const last = cipher.final();
  const tag = cipher.getAuthTag();
  const sealed = new Uint8Array(
    1 + IV_BYTES + body.length + last.length + TAG_BYTES,
  );
  sealed[0] = FORMAT;
  sealed.set(iv, 1);
  sealed.set(body, 1 + IV_BYTES);
  sealed.set(last, 1 + IV_BYTES + body.length);
  sealed.set(tag, sealed.length - TAG_BYTES);
  return sealed.toBase64(BASE64URL);
}

/** What `value` holds, with its record as JSON, or null. */
function open(
  keys: readonly Uint8Array[],
  value: string,
  context: string,
): Omit<Opened, "key"> | null {
  let sealed: Uint8Array;
  try {
    sealed = Uint8Array.fromBase64(value, BASE64URL);
  } catch {
    return null;
  }
  if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== FORMAT) {
    return null;
  }
  const iv = sealed.subarray(1, 1 + IV_BYTES);
  const body = sealed.subarray(1 + IV_BYTES, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  for (const [i, key] of keys.entries()) {
    const text = decrypt(key, iv, body, tag, context);
    if (text === null) continue;
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      return null;
    }
    const { id, record } = payload as Partial<Unsealed>;
    if (typeof id !== "string" || !isRecord(record)) return null;
    return { id, json: JSON.stringify(record), stale: i > 0 };
  }
  return null;
}

/** The plaintext, or null when `key` did not seal it (or it was altered). */
function decrypt(
  key: Uint8Array,
  iv: Uint8Array,
  body: Uint8Array,
  tag: Uint8Array,
  context: string,
): string | null {
  const decipher: DecipherGCM = createDecipheriv("aes-256-gcm", key, iv);
  decipher.setAAD(encoder.encode(context));
  decipher.setAuthTag(tag);
  try {
    const head = decipher.update(body);
    const tail = decipher.final();
    const plain = new Uint8Array(head.length + tail.length);
    plain.set(head);
    plain.set(tail, head.length);
    return decoder.decode(plain);
  } catch {
    return null;
  }
}
