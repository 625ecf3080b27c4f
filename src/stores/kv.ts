/**
 * A store on Deno KV: a local SQLite file, Deno Deploy, or a self-hosted
 * database through KV Connect, with the same code. It relies only on
 * documented KV semantics: versionstamp checks in `kv.atomic()`, strong reads
 * (the default), `expireIn` as the earliest time a key may go, and the
 * documented limits on keys and values.
 *
 * @module
 */

import {
  decodeRecord,
  encodeRecord,
  MAX_EXPIRY_MS,
  SessionTooLargeError,
} from "../record.ts";
import { sha256Hex } from "../hmac.ts";
import type {
  SessionRecord,
  SessionStore,
  StoredSession,
  UserIndex,
  UserSessionEntry,
  WriteCondition,
} from "../store.ts";

/** Deno KV's limit on one value: 64 KiB (a byte array of 65,536 fits, 65,537 throws). */
const MAX_VALUE_BYTES = 65_536;
/** Deno KV's limit on one key, encoded, when writing. */
const MAX_KEY_BYTES = 2_048;
/** The session's own key part: a 64-character hex string, tagged and terminated. */
const SESSION_KEY_PART_BYTES = 66;
/** Attempts of one KV call that keeps failing with "database is locked". */
const LOCKED_ATTEMPTS = 10;
/** Backoff between them: random up to base·2^n ms, at most the cap. */
const BACKOFF_BASE_MS = 2;
const BACKOFF_CAP_MS = 100;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Options for {@linkcode KvStore}. */
export interface KvStoreOptions {
  /**
   * The key prefix of the session records: each lives at
   * `[...prefix, storeKey]`, `storeKey` being the 64-hex SHA-256 digest of
   * the session id. Default `["sessions"]`. The constructor throws a
   * TypeError for a prefix that is not a key, or so long that the keys would
   * pass Deno KV's 2,048-byte key limit (a prefix may take up 1,982 bytes
   * encoded: a string part costs its UTF-8 length plus 2).
   */
  prefix?: Deno.KvKey;
  /**
   * Where the sessions are filed by user (for the `userKey` option): under
   * `[...userPrefix, sha256hex(user), storeKey]`, in the same atomic write
   * as each record and expiring with it. Default: beside `prefix`, its last
   * part followed by `":users"` (`["sessions:users"]`), so that listing
   * `prefix` lists only records; `[...prefix, ":users"]` when the last part
   * of `prefix` is not a string.
   */
  userPrefix?: Deno.KvKey;
}

/**
 * Opens a Deno KV database as `Deno.openKv(path)` does, trying again while
 * SQLite reports the file locked: up to 10 attempts with a small random
 * backoff, under 1 s in all. Workers of `deno serve --parallel`, or processes
 * started together, that open one KV file at the same moment can find it
 * locked, and the uncaught error stops that worker or the whole server. Any
 * other failure rejects at once. The caller owns the `Deno.Kv` and closes it.
 *
 * @param path A file path, `":memory:"`, a KV Connect URL, or none (the
 *   default database; Deno Deploy's there).
 * @returns The open database, to pass to {@linkcode KvStore}.
 * @example
 * ```ts
 * import { KvStore, openKv, withSession } from "@denokit/session";
 *
 * const kv = await openKv(":memory:"); // "./sessions.kv" under deno serve --parallel
 * const handler = withSession(() => new Response("ok"), {
 *   store: new KvStore(kv),
 * });
 * // export default { fetch: handler };
 * kv.close();
 * ```
 */
export function openKv(path?: string): Promise<Deno.Kv> {
  return retryLocked(
    () => Deno.openKv(path),
    lockedTooOften("openKv", "nothing was opened"),
  );
}

/**
 * Sessions in Deno KV. The caller opens the `Deno.Kv` and owns it (and closes
 * it); the store never opens or closes one.
 *
 * - Each record is the UTF-8 bytes of its JSON ({@linkcode SessionRecord}),
 *   so its size is exact: more than 65,536 bytes (Deno KV's value limit) and
 *   `set` rejects with a `SessionTooLargeError` (a RangeError) naming both
 *   numbers and the largest keys, writing nothing.
 * - The version is the KV versionstamp; every write is one `kv.atomic()`
 *   checked against it, rotation included (the old key checked and replaced
 *   by its forwarding record, the new one written, together).
 * - Every write sets `expireIn` to the time left until the record's
 *   `expiresAt` by this process's clock, rounded up, at least 1 ms, so that KV
 *   collects expired sessions itself. KV deletes them some time later, never
 *   earlier; the middleware judges a session from its timestamps, so one
 *   still returned past its deadline is never served as live. A deadline
 *   more than 100 years away is written without `expireIn`.
 * - When KV reports `database is locked` (several processes on one SQLite
 *   file), the call is tried again, up to 10 attempts with a small random
 *   backoff (under 1 s in all), then rejects. Every other failure, a closed `Deno.Kv`
 *   included, rejects at once: never a missing session.
 * - A value that is not a record (corrupt, or another program's) reads as no
 *   session.
 *
 * @example
 * ```ts
 * import { KvStore, withSession } from "@denokit/session";
 *
 * const kv = await Deno.openKv(":memory:"); // Deno.openKv() on Deno Deploy
 * const store = new KvStore(kv, { prefix: ["myapp", "sessions"] });
 * const handler = withSession(() => new Response("ok"), { store });
 * // Deno.serve(handler);
 * kv.close();
 * ```
 */
export class KvStore implements SessionStore, UserIndex {
  readonly #kv: Deno.Kv;
  readonly #prefix: Deno.KvKey;
  /** Null when the default one would be too long (see the options). */
  readonly #userPrefix: Deno.KvKey | null;

  /** Wraps an open `Deno.Kv`; throws a TypeError for an invalid `kv` or prefix. */
  constructor(kv: Deno.Kv, options: KvStoreOptions = {}) {
    if (
      typeof kv !== "object" || kv === null ||
      typeof kv.get !== "function" || typeof kv.atomic !== "function" ||
      typeof kv.delete !== "function"
    ) {
      throw new TypeError(
        "KvStore: the first argument must be an open Deno.Kv, as `await Deno.openKv(...)` gives",
      );
    }
    this.#kv = kv;
    this.#prefix = checkPrefix(options.prefix ?? ["sessions"]);
    if (options.userPrefix !== undefined) {
      this.#userPrefix = checkPrefix(options.userPrefix, "userPrefix", 2);
    } else {
      try {
        this.#userPrefix = checkPrefix(besideOf(this.#prefix), "userPrefix", 2);
      } catch {
        // A prefix too long to file by user beside it: filing is refused
        // when first needed, with the reason.
        this.#userPrefix = null;
      }
    }
  }

  /** Reads a record with a strong read; see {@linkcode SessionStore.get}. */
  async get(key: string): Promise<StoredSession | null> {
    const entry = await retryLocked(() => this.#kv.get(this.#key(key)));
    if (entry.versionstamp === null) return null;
    const record = decodeValue(entry.value);
    return record === null ? null : { record, version: entry.versionstamp };
  }

  /**
   * Writes a record in one checked `kv.atomic()`; see
   * {@linkcode SessionStore.set}. Rejects with a `SessionTooLargeError`, writing nothing,
   * when the record is over Deno KV's value limit.
   */
  async set(
    key: string,
    record: SessionRecord,
    condition: WriteCondition,
  ): Promise<string | null> {
    const value = encodeValue(record);
    const options = expiring(record);
    const { replaces, forward, previousUser } = condition;
    const leftBehind = forward === undefined
      ? null
      : { value: encodeValue(forward), options: expiring(forward) };
    const target = this.#key(key);
    const result = await retryLocked(() => {
      const operation = this.#kv.atomic();
      if (replaces === undefined) {
        operation.check({ key: target, versionstamp: condition.version });
      } else {
        const source = this.#key(replaces);
        operation
          .check({ key: source, versionstamp: condition.version })
          .check({ key: target, versionstamp: null });
        if (leftBehind === null) operation.delete(source);
        else operation.set(source, leftBehind.value, leftBehind.options);
      }
      // The filing moves with the record: off the replaced record's user
      // (and key), onto this one's, expiring with it.
      const unfiled = replaces ?? key;
      if (
        previousUser !== undefined &&
        (previousUser !== record.user || unfiled !== key)
      ) {
        operation.delete(this.#userKey(previousUser, unfiled));
      }
      if (record.user !== undefined) {
        operation.set(this.#userKey(record.user, key), FILED, options);
      }
      return operation.set(target, value, options).commit();
    });
    return result.ok ? result.versionstamp : null;
  }

  /** Deletes a record, and its filing. */
  async delete(key: string): Promise<void> {
    const target = this.#key(key);
    for (;;) {
      const entry = await retryLocked(() => this.#kv.get(target));
      const user = entry.versionstamp === null
        ? undefined
        : decodeValue(entry.value)?.user;
      const result = await retryLocked(() => {
        const operation = this.#kv.atomic()
          .check({ key: target, versionstamp: entry.versionstamp })
          .delete(target);
        if (user !== undefined) operation.delete(this.#userKey(user, key));
        return operation.commit();
      });
      // Written meanwhile: read the record again, to unfile its user.
      if (result.ok) return;
    }
  }

  /** The records filed under `user`; see {@linkcode UserIndex.listUser}. */
  async listUser(user: string): Promise<UserSessionEntry[]> {
    const keys: string[] = [];
    const filed = this.#kv.list({ prefix: this.#userKey(user) });
    for await (const entry of filed) keys.push(String(entry.key.at(-1)));
    const entries: UserSessionEntry[] = [];
    // getMany takes at most 10 keys.
    for (let i = 0; i < keys.length; i += 10) {
      const chunk = keys.slice(i, i + 10);
      const read = await retryLocked(() =>
        this.#kv.getMany(chunk.map((key) => this.#key(key)))
      );
      for (const [j, entry] of read.entries()) {
        if (entry.versionstamp === null) continue;
        const record = decodeValue(entry.value);
        if (record === null) continue;
        entries.push({
          key: chunk[j],
          stored: { record, version: entry.versionstamp },
        });
      }
    }
    return entries;
  }

  #key(key: string): Deno.KvKey {
    return [...this.#prefix, key];
  }

  /** Where `key` is filed under `user`; with no key, the user's whole filing. */
  #userKey(user: string, key?: string): Deno.KvKey {
    const userPrefix = this.#userPrefix;
    if (userPrefix === null) {
      throw new TypeError(
        "KvStore: the prefix is too long to file sessions by user beside it (userKey); give a shorter userPrefix option",
      );
    }
    const userPart = sha256Hex(user);
    return key === undefined
      ? [...userPrefix, userPart]
      : [...userPrefix, userPart, key];
  }
}

/** The value of a filing entry: its key says everything. */
const FILED = new Uint8Array(0);

/** The default `userPrefix`: beside `prefix`. */
function besideOf(prefix: Deno.KvKey): Deno.KvKey {
  const last = prefix.at(-1);
  return typeof last === "string"
    ? [...prefix.slice(0, -1), `${last}:users`]
    : [...prefix, ":users"];
}

function decodeValue(value: unknown): SessionRecord | null {
  if (!(value instanceof Uint8Array)) return null;
  let text: string;
  try {
    text = decoder.decode(value);
  } catch {
    return null;
  }
  return decodeRecord(text);
}

/** A record as the bytes of its JSON; a SessionTooLargeError past KV's value limit. */
function encodeValue(record: SessionRecord): Uint8Array {
  const value = encoder.encode(encodeRecord(record));
  if (value.byteLength > MAX_VALUE_BYTES) {
    throw new SessionTooLargeError(
      "KvStore (Deno KV's value limit)",
      record,
      value.byteLength,
      MAX_VALUE_BYTES,
    );
  }
  return value;
}

/**
 * The `set` options that let KV collect a record after its `expiresAt`:
 * `expireIn` in milliseconds, rounded up, at least 1; none past 100 years.
 */
function expiring(record: SessionRecord): { expireIn?: number } {
  const left = Math.ceil(record.expiresAt - Date.now());
  if (!(left <= MAX_EXPIRY_MS)) return {};
  return { expireIn: Math.max(1, left) };
}

/** A call's failure as SQLite's lock (a TypeError; an Error from openKv). */
function isLocked(error: unknown): boolean {
  return error instanceof Error &&
    error.message.includes("database is locked");
}

const lockedTooOften = (what: string, outcome: string) =>
  `${what}: Deno KV reported "database is locked" ${LOCKED_ATTEMPTS} times in a row; ${outcome}`;

/**
 * Runs a KV call again while SQLite reports the file locked by another
 * process (nothing was done then), a bounded number of times; then rejects
 * with the message `gaveUp`.
 */
async function retryLocked<T>(
  call: () => Promise<T>,
  gaveUp = lockedTooOften("KvStore", "nothing was written"),
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isLocked(error)) throw error;
      if (attempt === LOCKED_ATTEMPTS) {
        throw new Error(gaveUp, { cause: error });
      }
      const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
      await new Promise((resolve) =>
        setTimeout(resolve, Math.random() * ceiling)
      );
    }
  }
}

/** Checks a prefix and copies it (byte arrays included). */
function checkPrefix(
  prefix: Deno.KvKey,
  name = "prefix",
  parts = 1,
): Deno.KvKey {
  if (!Array.isArray(prefix)) {
    throw new TypeError(
      `KvStore: ${name} must be an array of key parts, got ${typeof prefix}`,
    );
  }
  let bytes = 0;
  const copy: Deno.KvKeyPart[] = [];
  for (const [i, part] of prefix.entries()) {
    const size = keyPartBytes(part);
    if (size === null) {
      throw new TypeError(
        `KvStore: ${name}[${i}] must be a string, number, bigint, boolean or Uint8Array, got ${
          part === null ? "null" : typeof part
        }`,
      );
    }
    bytes += size;
    copy.push(part instanceof Uint8Array ? part.slice() : part);
  }
  // The parts after the prefix: the session key, and for a user's filing the
  // digest of the user id too.
  const after = parts * SESSION_KEY_PART_BYTES;
  const limit = MAX_KEY_BYTES - after;
  if (bytes > limit) {
    throw new TypeError(
      `KvStore: ${name} is ${bytes} bytes encoded, which with the ${after} bytes after it passes Deno KV's ${MAX_KEY_BYTES}-byte key limit; use a ${name} of at most ${limit} bytes`,
    );
  }
  return Object.freeze(copy);
}

/** A key part's size in KV's tuple encoding, or null if it is not a key part. */
function keyPartBytes(part: unknown): number | null {
  switch (typeof part) {
    case "string":
      return escapedBytes(encoder.encode(part));
    case "number":
      return 9;
    case "boolean":
      return 1;
    case "bigint": {
      const magnitude = part < 0n ? -part : part;
      if (magnitude === 0n) return 1;
      const length = Math.ceil(magnitude.toString(16).length / 2);
      return length <= 8 ? 1 + length : 2 + length;
    }
  }
  return part instanceof Uint8Array ? escapedBytes(part) : null;
}

/** A type byte, the bytes with each 0x00 doubled, and a 0x00 terminator. */
function escapedBytes(bytes: Uint8Array): number {
  let size = 2 + bytes.length;
  for (const byte of bytes) if (byte === 0) size++;
  return size;
}
