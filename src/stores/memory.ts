/**
 * An in-process store: for development, tests and single-process servers.
 *
 * @module
 */

import {
  DEFAULT_MAX_SESSION_BYTES,
  oversize,
  SessionTooLargeError,
  wholeCount,
} from "../record.ts";
import type {
  SessionRecord,
  SessionStore,
  StoredSession,
  UserIndex,
  UserSessionEntry,
  WriteCondition,
} from "../store.ts";

/** Options for {@linkcode MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * The most records held. Sessions read since they were created may take up
   * to 80% of it; past the bound, the oldest of the others go first (a flood
   * of one-visit sessions evicts itself, not the sessions in use, while a new
   * session still has room until it is read again). Default 100,000.
   */
  maxSessions?: number;
  /**
   * Seconds between sweeps that drop expired records; 0 turns the sweep off.
   * The timer starts with the first write, never keeps the process alive, and
   * stops with {@linkcode MemoryStore.close}. Default 60.
   */
  sweepInterval?: number;
  /**
   * The most bytes of one session's data (as JSON, UTF-8): a larger one is
   * refused with a `SessionTooLargeError` before anything is stored. Default
   * 65,536, Deno KV's limit, so that an app moves between stores unchanged.
   */
  maxSessionBytes?: number;
  /** Clock in epoch milliseconds for the sweep. Default `Date.now`. */
  now?: () => number;
}

/** A record as `get` hands it out: a copy. */
function stored(entry: Entry): StoredSession {
  const record: SessionRecord = {
    data: JSON.parse(entry.data),
    createdAt: entry.createdAt,
    lastActiveAt: entry.lastActiveAt,
    absoluteExpiresAt: entry.absoluteExpiresAt,
    expiresAt: entry.expiresAt,
    browserSession: entry.browserSession,
  };
  if (entry.extra !== undefined) Object.assign(record, entry.extra);
  return { record, version: entry.version };
}

/** The share of `maxSessions` that sessions read since their creation may take. */
const KEPT_SHARE = 0.8;

/** Below this many, empty user filings are kept however few users there are. */
const MIN_EMPTY_FILINGS = 1024;

/** The optional fields of a record. */
type Extra = Pick<
  SessionRecord,
  "movedTo" | "user" | "idleTimeoutMs" | "successor"
>;

/** The optional fields `record` has, as an object of their own, if any. */
function extraOf(record: SessionRecord): Extra | undefined {
  const { movedTo, user, idleTimeoutMs, successor } = record;
  if (
    movedTo === undefined && user === undefined &&
    idleTimeoutMs === undefined && successor === undefined
  ) return undefined;
  const extra: Extra = {};
  if (movedTo !== undefined) extra.movedTo = movedTo;
  if (user !== undefined) extra.user = user;
  if (idleTimeoutMs !== undefined) extra.idleTimeoutMs = idleTimeoutMs;
  if (successor !== undefined) extra.successor = successor;
  return extra;
}

interface Entry {
  // The data kept as text so that what a caller does to a record it got or
  // gave never reaches the store: the same isolation a real backend gives.
  // The timestamps are kept as they are: parsing them back and checking the
  // shape of a record this store wrote itself cost more than the rest of a
  // read.
  data: string;
  createdAt: number;
  lastActiveAt: number;
  absoluteExpiresAt: number;
  expiresAt: number;
  browserSession: boolean;
  /** The optional fields of the record, when it has any. */
  extra: Extra | undefined;
  version: string;
  /** Read since it was last written: spared once by the eviction. */
  revisited: boolean;
}

/**
 * Sessions in Maps, bounded by `maxSessions` (the sessions never read again
 * dropped first), expired ones swept by an unref'd timer. Writes are atomic because they are
 * synchronous; the data is lost when the process ends.
 *
 * **One process only.** The sessions live in this isolate's memory: under
 * `deno serve --parallel`, or with several processes behind one address,
 * each worker has sessions of its own, and a user whose requests reach
 * another worker looks logged out. Share sessions between workers with a
 * `KvStore` on one database or a `FileStore` on one directory.
 *
 * @example
 * ```ts
 * import { MemoryStore, withSession } from "@denokit/session";
 *
 * using store = new MemoryStore({ maxSessions: 10_000 });
 * const handler = withSession(() => new Response("ok"), { store });
 * ```
 */
export class MemoryStore implements SessionStore, UserIndex, Disposable {
  /** Records not read since they were created (or demoted): the ones to go. */
  readonly #fresh = new Map<string, Entry>();
  /** Records read since they were created, oldest first; bounded. */
  readonly #kept = new Map<string, Entry>();
  /**
   * The keys of each user's records. A user's set stays when it empties:
   * deleting a Map key and adding it again leaves a dead entry in its hash
   * chain until the Map rehashes, which in a large Map comes only after many
   * more insertions, so a user who logs out and in again and again would make
   * each lookup of that user slower, in proportion to all users. The empty
   * sets go all at once when they are at least half of the Map, into a new
   * Map that has no dead entries.
   */
  #users = new Map<string, Set<string>>();
  /** How many sets of `#users` are empty. */
  #emptyFilings = 0;
  readonly #maxSessions: number;
  /** The most records kept: the rest of the room lets new sessions in. */
  readonly #maxKept: number;
  readonly #maxSessionBytes: number;
  readonly #sweepInterval: number;
  readonly #now: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #writes = 0;

  /** Creates an empty store; throws a TypeError for invalid options. */
  constructor(options: MemoryStoreOptions = {}) {
    const {
      maxSessions = 100_000,
      sweepInterval = 60,
      maxSessionBytes = DEFAULT_MAX_SESSION_BYTES,
      now = Date.now,
    } = options;
    wholeCount("MemoryStore", "maxSessions", maxSessions);
    wholeCount("MemoryStore", "maxSessionBytes", maxSessionBytes);
    if (!Number.isFinite(sweepInterval) || sweepInterval < 0) {
      throw new TypeError(
        `MemoryStore: sweepInterval must be a finite number of seconds >= 0, got ${sweepInterval}`,
      );
    }
    this.#maxSessions = maxSessions;
    this.#maxKept = Math.floor(maxSessions * KEPT_SHARE);
    this.#maxSessionBytes = maxSessionBytes;
    this.#sweepInterval = sweepInterval;
    this.#now = now;
  }

  /** How many records the store holds, expired or not. */
  get size(): number {
    return this.#fresh.size + this.#kept.size;
  }

  /** Reads a record, and marks it read for the eviction. */
  get(key: string): Promise<StoredSession | null> {
    let entry = this.#kept.get(key);
    if (entry !== undefined) {
      entry.revisited = true;
    } else {
      entry = this.#fresh.get(key);
      if (entry === undefined) return Promise.resolve(null);
      this.#fresh.delete(key);
      this.#kept.set(key, entry);
      if (this.#kept.size > this.#maxKept) this.#demote();
    }
    return Promise.resolve(stored(entry));
  }

  /** The records filed under `user`; see {@linkcode UserIndex.listUser}. */
  listUser(user: string): Promise<UserSessionEntry[]> {
    const entries: UserSessionEntry[] = [];
    for (const key of this.#users.get(user) ?? []) {
      const entry = this.#kept.get(key) ?? this.#fresh.get(key);
      if (entry !== undefined) entries.push({ key, stored: stored(entry) });
    }
    return Promise.resolve(entries);
  }

  /**
   * Writes a record if the condition holds; see {@linkcode SessionStore.set}.
   * Rejects with a `SessionTooLargeError`, writing nothing, when its data is
   * over `maxSessionBytes`.
   */
  set(
    key: string,
    record: SessionRecord,
    condition: WriteCondition,
  ): Promise<string | null> {
    const data = JSON.stringify(record.data);
    const size = oversize(data, this.#maxSessionBytes);
    if (size !== null) {
      return Promise.reject(
        new SessionTooLargeError(
          "MemoryStore",
          record,
          size,
          this.#maxSessionBytes,
        ),
      );
    }
    const { replaces, forward } = condition;
    const source = replaces ?? key;
    const kept = this.#kept.has(source);
    const current = kept ? this.#kept.get(source) : this.#fresh.get(source);
    if ((current?.version ?? null) !== condition.version) {
      return Promise.resolve(null);
    }
    if (replaces !== undefined) {
      if (this.#kept.has(key) || this.#fresh.has(key)) {
        return Promise.resolve(null);
      }
      this.#drop(replaces);
      if (forward !== undefined) {
        this.#put(replaces, forward, JSON.stringify(forward.data), false);
      }
    }
    const version = this.#put(key, record, data, kept);
    if (this.size > this.#maxSessions) this.#evict();
    this.#startSweep();
    return Promise.resolve(version);
  }

  /** Drops the oldest fresh records down to `maxSessions`. */
  #evict(): void {
    for (const key of this.#fresh.keys()) {
      if (this.size <= this.#maxSessions) return;
      this.#drop(key);
    }
  }

  /** Removes the record under `key`, and its filing. */
  #drop(key: string): void {
    const entry = this.#kept.get(key) ?? this.#fresh.get(key);
    if (entry === undefined) return;
    this.#kept.delete(key);
    this.#fresh.delete(key);
    this.#file(key, entry.extra?.user, undefined);
  }

  /** Moves `key` from the keys of user `from` to those of `to`. */
  #file(key: string, from: string | undefined, to: string | undefined): void {
    if (from === to) return;
    if (from !== undefined) {
      const keys = this.#users.get(from);
      if (keys !== undefined && keys.delete(key) && keys.size === 0) {
        this.#emptyFilings++;
      }
    }
    if (to !== undefined) {
      let keys = this.#users.get(to);
      if (keys === undefined) this.#users.set(to, keys = new Set());
      else if (keys.size === 0) this.#emptyFilings--;
      keys.add(key);
    }
    if (
      this.#emptyFilings > MIN_EMPTY_FILINGS &&
      this.#emptyFilings * 2 >= this.#users.size
    ) {
      const users = new Map<string, Set<string>>();
      for (const [user, keys] of this.#users) {
        if (keys.size > 0) users.set(user, keys);
      }
      this.#users = users;
      this.#emptyFilings = 0;
    }
  }

  /**
   * Moves the oldest kept record behind the fresh ones, sparing once (moving
   * behind the kept ones instead) a record read since its last write.
   */
  #demote(): void {
    for (const [key, entry] of this.#kept) {
      this.#kept.delete(key);
      if (entry.revisited) {
        entry.revisited = false;
        this.#kept.set(key, entry);
      } else {
        this.#fresh.set(key, entry);
        return;
      }
    }
  }

  /**
   * Stores `record` under `key`: in place if the key is held (a write does
   * not move a record in the eviction's order: the read before it marked
   * it), else behind the others, among the kept records or the fresh ones.
   * Its new version.
   */
  #put(
    key: string,
    record: SessionRecord,
    data: string,
    kept: boolean,
  ): string {
    const version = String(++this.#writes);
    const extra = extraOf(record);
    const entry = this.#kept.get(key) ?? this.#fresh.get(key);
    if (entry !== undefined) {
      this.#file(key, entry.extra?.user, extra?.user);
      entry.data = data;
      entry.createdAt = record.createdAt;
      entry.lastActiveAt = record.lastActiveAt;
      entry.absoluteExpiresAt = record.absoluteExpiresAt;
      entry.expiresAt = record.expiresAt;
      entry.browserSession = record.browserSession;
      entry.extra = extra;
      entry.version = version;
      return version;
    }
    this.#file(key, undefined, extra?.user);
    (kept ? this.#kept : this.#fresh).set(key, {
      data,
      createdAt: record.createdAt,
      lastActiveAt: record.lastActiveAt,
      absoluteExpiresAt: record.absoluteExpiresAt,
      expiresAt: record.expiresAt,
      browserSession: record.browserSession,
      extra,
      version,
      revisited: false,
    });
    if (kept && this.#kept.size > this.#maxKept) this.#demote();
    return version;
  }

  /** Deletes a record. */
  delete(key: string): Promise<void> {
    this.#drop(key);
    return Promise.resolve();
  }

  /** Drops every record past its `expiresAt`; returns how many. */
  clearExpired(): number {
    const now = this.#now();
    let removed = 0;
    for (const records of [this.#fresh, this.#kept]) {
      for (const [key, entry] of records) {
        if (entry.expiresAt <= now) {
          this.#drop(key);
          removed++;
        }
      }
    }
    return removed;
  }

  /** Stops the sweep timer for good. The records stay usable. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Same as {@linkcode MemoryStore.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #startSweep(): void {
    if (
      this.#timer !== undefined || this.#closed || this.#sweepInterval === 0
    ) return;
    const timer = setInterval(
      () => this.clearExpired(),
      this.#sweepInterval * 1000,
    );
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }
}
