/**
 * An in-process store: for development, tests and single-process servers.
 *
 * @module
 */

import type {
  SessionRecord,
  SessionStore,
  StoredSession,
  WriteCondition,
} from "../store.ts";

/** Options for {@linkcode MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * The most sessions held; past it the least recently used is dropped.
   * Default 100,000.
   */
  maxSessions?: number;
  /**
   * Seconds between sweeps that drop expired records; 0 turns the sweep off.
   * The timer starts with the first write, never keeps the process alive, and
   * stops with {@linkcode MemoryStore.close}. Default 60.
   */
  sweepInterval?: number;
  /** Clock in epoch milliseconds for the sweep. Default `Date.now`. */
  now?: () => number;
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
  movedTo: string | undefined;
  version: string;
}

/**
 * Sessions in a Map, least recently used dropped first past `maxSessions`,
 * expired ones swept by an unref'd timer. Writes are atomic because they are
 * synchronous; the data is lost when the process ends.
 *
 * @example
 * ```ts
 * import { MemoryStore, withSession } from "@denokit/session";
 *
 * using store = new MemoryStore({ maxSessions: 10_000 });
 * const handler = withSession(() => new Response("ok"), { store });
 * ```
 */
export class MemoryStore implements SessionStore, Disposable {
  readonly #entries = new Map<string, Entry>();
  readonly #maxSessions: number;
  readonly #sweepInterval: number;
  readonly #now: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #writes = 0;

  /** Creates an empty store; throws a TypeError for invalid options. */
  constructor(options: MemoryStoreOptions = {}) {
    const { maxSessions = 100_000, sweepInterval = 60, now = Date.now } =
      options;
    if (!Number.isSafeInteger(maxSessions) || maxSessions < 1) {
      throw new TypeError(
        `MemoryStore: maxSessions must be a whole number of at least 1, got ${maxSessions}`,
      );
    }
    if (!Number.isFinite(sweepInterval) || sweepInterval < 0) {
      throw new TypeError(
        `MemoryStore: sweepInterval must be a finite number of seconds >= 0, got ${sweepInterval}`,
      );
    }
    this.#maxSessions = maxSessions;
    this.#sweepInterval = sweepInterval;
    this.#now = now;
  }

  /** How many records the store holds, expired or not. */
  get size(): number {
    return this.#entries.size;
  }

  /** Reads a record and marks it most recently used. */
  get(key: string): Promise<StoredSession | null> {
    const entry = this.#entries.get(key);
    if (entry === undefined) return Promise.resolve(null);
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    const record: SessionRecord = {
      data: JSON.parse(entry.data),
      createdAt: entry.createdAt,
      lastActiveAt: entry.lastActiveAt,
      absoluteExpiresAt: entry.absoluteExpiresAt,
      expiresAt: entry.expiresAt,
      browserSession: entry.browserSession,
    };
    if (entry.movedTo !== undefined) record.movedTo = entry.movedTo;
    return Promise.resolve({ record, version: entry.version });
  }

  /** Writes a record if the condition holds; see {@linkcode SessionStore.set}. */
  set(
    key: string,
    record: SessionRecord,
    condition: WriteCondition,
  ): Promise<string | null> {
    const current = this.#entries.get(condition.replaces ?? key);
    if ((current?.version ?? null) !== condition.version) {
      return Promise.resolve(null);
    }
    const { replaces, forward } = condition;
    if (replaces !== undefined) {
      if (this.#entries.has(key)) return Promise.resolve(null);
      if (forward === undefined) this.#entries.delete(replaces);
      else this.#put(replaces, forward);
    }
    const version = this.#put(key, record);
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxSessions) break;
      this.#entries.delete(oldest);
    }
    this.#startSweep();
    return Promise.resolve(version);
  }

  /** Stores `record` under `key` as the most recently used; its new version. */
  #put(key: string, record: SessionRecord): string {
    const version = String(++this.#writes);
    this.#entries.delete(key);
    this.#entries.set(key, {
      data: JSON.stringify(record.data),
      createdAt: record.createdAt,
      lastActiveAt: record.lastActiveAt,
      absoluteExpiresAt: record.absoluteExpiresAt,
      expiresAt: record.expiresAt,
      browserSession: record.browserSession,
      movedTo: record.movedTo,
      version,
    });
    return version;
  }

  /** Deletes a record. */
  delete(key: string): Promise<void> {
    this.#entries.delete(key);
    return Promise.resolve();
  }

  /** Drops every record past its `expiresAt`; returns how many. */
  clearExpired(): number {
    const now = this.#now();
    let removed = 0;
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= now) {
        this.#entries.delete(key);
        removed++;
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
