/**
 * The store interface: the only thing a backend implements. Three methods,
 * keyed by the SHA-256 hex digest of the session id (never the id itself), with
 * one conditional write that covers create, update and rotation.
 *
 * @module
 */

import type { SessionData } from "./json.ts";

/** What a store keeps for one session. Times are epoch milliseconds. */
export interface SessionRecord {
  /** The session's data. */
  data: SessionData;
  /** When the session was created. */
  createdAt: number;
  /** When a request last read or wrote the session, as last written. */
  lastActiveAt: number;
  /** The fixed deadline: creation plus `absoluteTimeout`, or as set with `setExpiry`. */
  absoluteExpiresAt: number;
  /**
   * The earlier of `absoluteExpiresAt` and the idle deadline, as of this
   * write. A store may forget the record after this time (Deno KV's
   * `expireIn`, a sweep); it need not, because whether a session is live is
   * decided from the timestamps above, never from a store still returning it.
   */
  expiresAt: number;
  /** The cookie lasts until the browser closes (no Max-Age or Expires). */
  browserSession: boolean;
  /**
   * Set only on the record a rotation leaves under the old key: the store key
   * of the session it was rotated into. Such a record, like any record with
   * no data, opens no session; it lets a request that loaded the session
   * before the rotation land its change on the rotated one.
   */
  movedTo?: string;
  /**
   * The signed-in user's id, when `userKey` is set and the data holds a
   * string or number under it: what a {@linkcode UserIndex} files the record
   * under. Stores without one keep it like any other field.
   */
  user?: string;
  /**
   * This session's own idle timeout (`Session.setIdleTimeout`), in
   * milliseconds, `null` for none; absent, the option's applies.
   */
  idleTimeoutMs?: number | null;
  /**
   * On a forwarding record (with `movedTo`): the new session id, sealed with
   * the old one, so that only a request holding the old id can learn it (the
   * rotation grace); whoever reads the store learns nothing usable.
   */
  successor?: string;
}

/** A record as read back, with the version a conditional write names. */
export interface StoredSession {
  /** The record. */
  record: SessionRecord;
  /** Opaque; changes on every successful write of this key. */
  version: string;
}

/** The condition under which {@linkcode SessionStore.set} writes. */
export interface WriteCondition {
  /**
   * The version that {@linkcode SessionStore.get} returned for the record
   * this write replaces, or `null` when no record may exist yet.
   */
  version: string | null;
  /**
   * Rotation: the key of the record this write replaces. The store writes the
   * new key only if no record exists under it yet, and in the same atomic
   * step puts {@linkcode WriteCondition.forward} in place of the old record
   * (or deletes it when there is none); `version` is checked against the
   * record under this key.
   */
  replaces?: string;
  /**
   * With `replaces`: the record to leave under the old key, pointing to the
   * new one ({@linkcode SessionRecord.movedTo}). Its `expiresAt` says how
   * long it is needed.
   */
  forward?: SessionRecord;
  /**
   * The `user` of the record this write replaces (the one `version` names,
   * under `replaces ?? key`), so that a {@linkcode UserIndex} can unfile it
   * without reading it first; the version check makes it exact.
   */
  previousUser?: string;
}

/** A session filed under a user by a {@linkcode UserIndex}: its key and record. */
export interface UserSessionEntry {
  /** The store key. */
  key: string;
  /** The record, with its version, as `get(key)` would return it. */
  stored: StoredSession;
}

/**
 * The optional capability of a store that files sessions by user (for
 * `listUserSessions` and `endUserSessions`). Every write keeps the filing
 * exact in the same atomic step as the record: a record written with `user`
 * is filed under it (and unfiled from the user of the record it replaces, if
 * another); a rotation's forwarding record, like any record without `user`,
 * is filed nowhere; `delete` unfiles. An entry may outlive its record by no
 * more than the store's own garbage collection; the caller still judges from
 * each record whether its session is live.
 */
export interface UserIndex {
  /** The records filed under `user`, in no particular order. */
  listUser(user: string): Promise<UserSessionEntry[]>;
}

/** Whether `store` files its sessions by user: a {@linkcode UserIndex}. */
export function isUserIndex(
  store: SessionStore,
): store is SessionStore & UserIndex {
  return typeof (store as Partial<UserIndex>).listUser === "function";
}

/**
 * A session backend. Implementations: `MemoryStore`, `KvStore`, `FileStore`,
 * `CookieStore` (the session sealed in the cookie itself) and, from
 * `@denokit/session/redis`, `RedisStore`; the suite exported from
 * `@denokit/session/testing` checks any other.
 *
 * @example A store that keeps sessions in a Map (MemoryStore does this, bounded)
 * ```ts
 * import type { SessionRecord, SessionStore, StoredSession, WriteCondition } from "@denokit/session";
 *
 * class MapStore implements SessionStore {
 *   #records = new Map<string, { text: string; version: string }>();
 *   #writes = 0;
 *   get(key: string): Promise<StoredSession | null> {
 *     const entry = this.#records.get(key);
 *     return Promise.resolve(
 *       entry ? { record: JSON.parse(entry.text), version: entry.version } : null,
 *     );
 *   }
 *   set(key: string, record: SessionRecord, condition: WriteCondition): Promise<string | null> {
 *     const { version, replaces, forward } = condition;
 *     const current = this.#records.get(replaces ?? key);
 *     if ((current?.version ?? null) !== version) return Promise.resolve(null);
 *     if (replaces !== undefined) {
 *       if (this.#records.has(key)) return Promise.resolve(null);
 *       if (forward === undefined) this.#records.delete(replaces);
 *       else this.#put(replaces, forward);
 *     }
 *     return Promise.resolve(this.#put(key, record));
 *   }
 *   #put(key: string, record: SessionRecord): string {
 *     const version = String(++this.#writes);
 *     this.#records.set(key, { text: JSON.stringify(record), version });
 *     return version;
 *   }
 *   delete(key: string): Promise<void> {
 *     this.#records.delete(key);
 *     return Promise.resolve();
 *   }
 * }
 * ```
 */
export interface SessionStore {
  /**
   * The record stored under `key`, or `null`. It may be past its deadlines;
   * the caller decides. Rejects when the backend fails: a failure must never
   * look like a missing session.
   */
  get(key: string): Promise<StoredSession | null>;
  /**
   * Writes `record` under `key` if the condition holds, atomically, and
   * resolves to the new version; resolves to `null`, writing nothing, when the
   * condition fails (another request wrote or deleted the record meanwhile).
   * Rejects when the backend fails, writing nothing.
   */
  set(
    key: string,
    record: SessionRecord,
    condition: WriteCondition,
  ): Promise<string | null>;
  /** Deletes the record under `key`, if any. */
  delete(key: string): Promise<void>;
}
