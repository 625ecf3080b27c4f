/**
 * The session object a handler works with: Django's `request.session`.
 *
 * @module
 */

import { assertJsonValue, type JsonValue, type SessionData } from "./json.ts";
import { generateId } from "./id.ts";
import { type Config, show } from "./options.ts";
import type { StoredSession } from "./store.ts";

/** How this request changed the session's deadline: `setExpiry`. */
export type ExpiryChange =
  | { kind: "default" }
  | { kind: "at"; time: number }
  | { kind: "browser" };

/**
 * Everything the middleware and the session object share about one request's
 * session. Internal: not exported from the module.
 */
export interface SessionState {
  readonly config: Config;
  /** The request's clock reading, taken once when the session loads. */
  readonly now: number;
  id: string | null;
  /** The live record this session came from; null when new or flushed. */
  stored: StoredSession | null;
  /** The store key of `stored`. */
  key: string | null;
  data: Map<string, JsonValue>;
  /**
   * What this request set (a value) or deleted (undefined), for merging;
   * null until the first change, so that a read allocates nothing for it.
   */
  changes: Map<string, JsonValue | undefined> | null;
  cleared: boolean;
  modified: boolean;
  isNew: boolean;
  wasExpired: boolean;
  /** A new id is to replace the stored one when the response is saved. */
  rotating: boolean;
  expiry: ExpiryChange | null;
}

/** The absolute deadline the record will carry, given `base` and this request's expiry change. */
export function absoluteDeadline(
  state: SessionState,
  base: StoredSession | null,
): number {
  const expiry = state.expiry;
  if (expiry?.kind === "at") return expiry.time;
  const createdAt = base?.record.createdAt ?? state.now;
  if (expiry !== null || base === null) {
    return createdAt + state.config.absoluteTimeoutMs;
  }
  return base.record.absoluteExpiresAt;
}

/** Whether the cookie is to last until the browser closes. */
export function isBrowserSession(
  state: SessionState,
  base: StoredSession | null,
): boolean {
  if (state.config.expireAtBrowserClose) return true;
  if (state.expiry !== null) return state.expiry.kind === "browser";
  return base?.record.browserSession ?? false;
}

/** Whether this request will write the record, refreshing its idle deadline. */
export function willWrite(state: SessionState): boolean {
  if (state.modified || state.config.saveEveryRequest) return true;
  return isTouchDue(state);
}

/** Whether a read alone is due to refresh the idle deadline in the store. */
export function isTouchDue(state: SessionState): boolean {
  const { stored, config } = state;
  return stored !== null && config.idleTimeoutMs !== null &&
    state.now - stored.record.lastActiveAt >= config.touchIntervalMs;
}

/**
 * One request's view of its session. Obtain it with `getSession(req)`; the
 * middleware saves it when the handler's response is ready.
 *
 * Values are JSON. `get` returns the stored value itself: after changing an
 * object in place, `set` it again so that the session knows (as in Django).
 *
 * @typeParam T The shape of the data, a `type` of JSON values.
 *
 * @example
 * ```ts
 * import { getSession, withSession } from "@denokit/session";
 *
 * const handler = withSession(async (req) => {
 *   const session = await getSession<{ visits: number }>(req);
 *   const visits = (session.get("visits") ?? 0) + 1;
 *   session.set("visits", visits);
 *   return new Response(`visit ${visits}`);
 * });
 * ```
 */
export class Session<T extends SessionData = SessionData> {
  readonly #state: SessionState;

  /** Internal: sessions come from `getSession(req)`. */
  constructor(state: SessionState) {
    this.#state = state;
  }

  /** The session id; `null` until the session has a stored record. */
  get id(): string | null {
    return this.#state.id;
  }

  /** No valid stored session came with the request (or it was flushed). */
  get isNew(): boolean {
    return this.#state.isNew;
  }

  /** The request carried the cookie of a session that had timed out. */
  get wasExpired(): boolean {
    return this.#state.wasExpired;
  }

  /** This request changed the data, the expiry or the id. */
  get isModified(): boolean {
    return this.#state.modified;
  }

  /** How many keys the session holds. */
  get size(): number {
    return this.#state.data.size;
  }

  /** The session holds no keys. */
  get isEmpty(): boolean {
    return this.#state.data.size === 0;
  }

  /**
   * When the session expires if no later request touches it: the earlier of
   * the absolute and the idle deadline. `null` while new and empty.
   */
  get expiresAt(): Date | null {
    const state = this.#state;
    if (state.stored === null && state.data.size === 0) return null;
    const absolute = absoluteDeadline(state, state.stored);
    const idle = state.config.idleTimeoutMs;
    if (idle === null) return new Date(absolute);
    const lastActive = state.stored === null || willWrite(state)
      ? state.now
      : state.stored.record.lastActiveAt;
    return new Date(Math.min(absolute, lastActive + idle));
  }

  /** The value under `key`, or `undefined`. */
  get<K extends keyof T & string>(key: K): T[K] | undefined {
    return this.#state.data.get(key) as T[K] | undefined;
  }

  /**
   * Stores `value` under `key`. Throws a TypeError naming the key, and changes
   * nothing, when `value` is not JSON.
   */
  set<K extends keyof T & string>(key: K, value: T[K]): void {
    if (typeof key !== "string") {
      throw new TypeError(`Session keys must be strings, got ${typeof key}`);
    }
    assertJsonValue(key, value);
    const state = this.#state;
    state.data.set(key, value);
    (state.changes ??= new Map()).set(key, value);
    state.modified = true;
  }

  /** Whether `key` holds a value. */
  has(key: keyof T & string): boolean {
    return this.#state.data.has(key);
  }

  /** Removes `key`; whether it was there. */
  delete(key: keyof T & string): boolean {
    const state = this.#state;
    if (!state.data.delete(key)) return false;
    (state.changes ??= new Map()).set(key, undefined);
    state.modified = true;
    return true;
  }

  /** Removes `key` and returns its value, or `fallback` if it had none. */
  pop<K extends keyof T & string>(key: K, fallback?: T[K]): T[K] | undefined {
    const value = this.get(key);
    return this.delete(key) ? value : fallback;
  }

  /** The value under `key`; if there is none, stores `value` and returns it. */
  setDefault<K extends keyof T & string>(key: K, value: T[K]): T[K] {
    if (this.has(key)) return this.get(key) as T[K];
    this.set(key, value);
    return value;
  }

  /** The keys, in insertion order. */
  keys(): Array<keyof T & string> {
    return [...this.#state.data.keys()];
  }

  /** The key and value pairs, in insertion order. */
  entries(): Array<[keyof T & string, T[keyof T & string]]> {
    return [...this.#state.data.entries()] as Array<
      [keyof T & string, T[keyof T & string]]
    >;
  }

  /**
   * Drops every key. A session that ends the request empty is deleted from
   * the store and its cookie cleared.
   */
  clear(): void {
    const state = this.#state;
    state.data.clear();
    state.changes = null;
    state.cleared = true;
    state.modified = true;
  }

  /**
   * Logout: deletes the stored record now, drops the data and the id, and
   * clears the cookie with the response. Values set afterwards start a new
   * session with a new id.
   */
  async flush(): Promise<void> {
    const state = this.#state;
    if (state.key !== null) await state.config.store.delete(state.key);
    state.stored = null;
    state.key = null;
    state.id = null;
    state.isNew = true;
    state.rotating = false;
    state.data.clear();
    state.changes = null;
    state.cleared = true;
    state.modified = true;
  }

  /**
   * Login: keeps the data under a new id, against session fixation. The new
   * id shows at once in {@linkcode Session.id}; when the response is saved,
   * the store writes it and deletes the old record in one atomic step, so a
   * handler that fails after `rotate` leaves the old session as it was.
   */
  rotate(): Promise<void> {
    const state = this.#state;
    if (state.stored !== null) {
      state.id = generateId();
      state.rotating = true;
      state.modified = true;
    }
    return Promise.resolve();
  }

  /**
   * Changes when the session expires, Django's `set_expiry`: a number of
   * seconds from now or a Date replaces the absolute deadline (the idle
   * timeout still applies); `0` makes the cookie last until the browser
   * closes; `null` restores the defaults. A deadline already past ends the
   * session with this response. Throws a TypeError for anything else.
   */
  setExpiry(value: number | Date | 0 | null): void {
    const state = this.#state;
    if (value === null) {
      state.expiry = { kind: "default" };
    } else if (value === 0) {
      state.expiry = { kind: "browser" };
    } else if (value instanceof Date) {
      const time = value.getTime();
      if (Number.isNaN(time)) {
        throw new TypeError("setExpiry: the Date is invalid");
      }
      state.expiry = { kind: "at", time };
    } else if (
      typeof value === "number" && Number.isFinite(value) && value > 0
    ) {
      state.expiry = { kind: "at", time: state.now + value * 1000 };
    } else {
      throw new TypeError(
        `setExpiry takes seconds (> 0), a Date, 0 or null; got ${show(value)}`,
      );
    }
    state.modified = true;
  }
}
