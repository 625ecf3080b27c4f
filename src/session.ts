/**
 * The session object a handler works with: Django's `request.session`.
 *
 * @module
 */

import {
  absoluteDeadline,
  type ExpiryChange,
  freshRecord,
  type IdleChange,
  idleTimeoutOf,
  isTouchDue,
} from "./expiry.ts";
import {
  generateId,
  handleOf,
  sealSuccessor,
  storeKey,
  type VerifiedCookie,
} from "./id.ts";
import {
  assertJsonValue,
  isEmptyData,
  type JsonValue,
  type SessionData,
  setData,
} from "./json.ts";
import {
  type Config,
  MAX_LIFETIME_DAYS,
  MAX_LIFETIME_MS,
  show,
} from "./options.ts";
import { endSession, saveSession } from "./save.ts";
import type { StoredSession } from "./store.ts";
import type { NewId } from "./write.ts";

/** The stored session a request holds: its id, key and latest known record. */
export interface HeldSession {
  readonly id: string;
  readonly key: string;
  /**
   * The latest record known; once loaded, its `data` is the request's own
   * (`SessionState.data`), changed in place.
   */
  stored: StoredSession;
  /**
   * Another request rotated the session to an id this request does not
   * know: its changes still land on the session, but it sends no cookie.
   */
  rotatedAway: boolean;
}

/** What a request changed since its last save. */
export interface Edits {
  /** `clear()` came first: the stored data is dropped before `changes`. */
  cleared: boolean;
  /** Keys set (a value) or deleted (undefined), in order; null for none. */
  changes: Map<string, JsonValue | undefined> | null;
  expiry: ExpiryChange | null;
  /** `setIdleTimeout`. */
  idleTimeout: IdleChange | null;
  /** The id `rotate()` made, written in place of the held one on save. */
  rotation: NewId | null;
}

/**
 * One request's session, shared by the session object, the save and the
 * response rules. Internal: not exported from the module.
 */
export interface SessionState {
  readonly config: Config;
  /** The request's clock reading, taken once when the session loads. */
  readonly now: number;
  /** The session cookie that came with the request, valid or not. */
  readonly cookie: IncomingCookie;
  /** The live stored session; null while new, and once it ended. */
  held: HeldSession | null;
  /**
   * The data, changed in place: to begin with, the object the store read
   * (stores hand out copies), so that a read copies nothing.
   */
  data: SessionData;
  /** What changed since the last save; null while nothing did. */
  edits: Edits | null;
  /**
   * The edits of an explicit save that failed (the handler saw the error):
   * kept for another explicit save, but the response does not try them
   * again unless the request changes the session after the failure.
   */
  failedSave: Edits | null;
  /** Changed at any time in this request (sticky, unlike `edits`). */
  modified: boolean;
  /**
   * A save merged this request's changes onto another request's, so `data`
   * is no longer the stored record with this request's changes: later saves
   * write only what changed since, never `data` whole.
   */
  merged: boolean;
  isNew: boolean;
  wasExpired: boolean;
  /**
   * What the saves so far decided for the session cookie: send it, clear it,
   * or send nothing; null while they decided nothing (the response rules
   * then decide).
   */
  cookieAction: "send" | "clear" | "none" | null;
  /**
   * How the response carries the session: in the cookie, or (the client
   * sent the `header` option's header) in that header.
   */
  readonly transport: "cookie" | "header";
}

/**
 * The session cookie of a request: the valid one that opened the session,
 * `"invalid"` when cookies of that name came but none opened a session,
 * `null` when none came.
 */
export type IncomingCookie = VerifiedCookie | "invalid" | null;

/** Django's test cookie: the key, and the value that says it worked. */
const TEST_COOKIE = "testcookie";
const TEST_COOKIE_WORKED = "worked";

/** The edits of `state`, made on the first change. */
function editsOf(state: SessionState): Edits {
  state.failedSave = null;
  return state.edits ??= {
    cleared: false,
    changes: null,
    expiry: null,
    idleTimeout: null,
    rotation: null,
  };
}

let heldKeyOfSession: <T extends SessionData>(
  session: Session<T>,
) => string | null;

/** The store key of the session a `Session` holds, or null (for `endUserSessions`). */
export function heldKey<T extends SessionData>(
  session: Session<T>,
): string | null {
  return heldKeyOfSession(session);
}

/**
 * One request's view of its session. Obtain it with `getSession(req)`; it is
 * saved when the response is ready, or earlier with
 * {@linkcode Session.save}.
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
  static {
    heldKeyOfSession = (session) => session.#state.held?.key ?? null;
  }

  readonly #state: SessionState;

  /** Internal: sessions come from `getSession(req)`. */
  constructor(state: SessionState) {
    this.#state = state;
  }

  /** The session id; `null` until the session has a stored record. */
  get id(): string | null {
    const state = this.#state;
    return state.edits?.rotation?.id ?? state.held?.id ?? null;
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
    return Object.keys(this.#state.data).length;
  }

  /** The session holds no keys. */
  get isEmpty(): boolean {
    return isEmptyData(this.#state.data);
  }

  /**
   * When the session expires if no later request touches it: the earlier of
   * {@linkcode Session.absoluteExpiresAt} and
   * {@linkcode Session.idleExpiresAt}. `null` while new and empty.
   */
  get expiresAt(): Date | null {
    const absolute = this.absoluteExpiresAt;
    const idle = this.idleExpiresAt;
    return idle !== null && absolute !== null && idle < absolute
      ? idle
      : absolute;
  }

  /**
   * The absolute deadline, whatever the activity: creation plus
   * `absoluteTimeout`, or what `setExpiry` set. `null` while new and empty.
   */
  get absoluteExpiresAt(): Date | null {
    const { config, held, now, edits, data } = this.#state;
    if (held === null && isEmptyData(data)) return null;
    const record = held?.stored.record ?? freshRecord(config, now);
    return new Date(absoluteDeadline(config, record, edits?.expiry ?? null));
  }

  /**
   * The idle deadline if no later request reads the session: its last
   * activity as stored once this request is saved, plus its idle timeout
   * (its own, from `setIdleTimeout`, or the option's; a read refreshes the
   * stored activity at most once per `touchInterval`). `null` without an
   * idle timeout, and while new and empty.
   */
  get idleExpiresAt(): Date | null {
    const { config, held, now, edits, data } = this.#state;
    if (held === null && isEmptyData(data)) return null;
    const record = held?.stored.record ?? freshRecord(config, now);
    const change = edits?.idleTimeout ?? null;
    const idle = change === null
      ? idleTimeoutOf(config, record)
      : change.kind === "set"
      ? change.ms
      : config.idleTimeoutMs;
    if (idle === null) return null;
    const writes = held === null || edits !== null || config.saveEveryRequest ||
      isTouchDue(config, record, now);
    const lastActive = writes
      ? Math.max(record.lastActiveAt, now)
      : record.lastActiveAt;
    return new Date(lastActive + idle);
  }

  /** The value under `key`, or `undefined`. */
  get<K extends keyof T & string>(key: K): T[K] | undefined {
    return this.#get(key) as T[K] | undefined;
  }

  #get(key: string): JsonValue | undefined {
    const { data } = this.#state;
    return Object.hasOwn(data, key) ? data[key] : undefined;
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
    this.#set(key, value);
  }

  #set(key: string, value: JsonValue): void {
    const state = this.#state;
    setData(state.data, key, value);
    (editsOf(state).changes ??= new Map()).set(key, value);
    state.modified = true;
  }

  /** Whether `key` holds a value. */
  has(key: keyof T & string): boolean {
    return Object.hasOwn(this.#state.data, key);
  }

  /** Removes `key`; whether it was there. */
  delete(key: keyof T & string): boolean {
    return this.#delete(key);
  }

  #delete(key: string): boolean {
    const state = this.#state;
    if (!Object.hasOwn(state.data, key)) return false;
    delete state.data[key];
    (editsOf(state).changes ??= new Map()).set(key, undefined);
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

  /** The keys, in the order of a JavaScript object's own keys. */
  keys(): Array<keyof T & string> {
    return Object.keys(this.#state.data);
  }

  /** The key and value pairs, in the same order as {@linkcode Session.keys}. */
  entries(): Array<[keyof T & string, T[keyof T & string]]> {
    return Object.entries(this.#state.data) as Array<
      [keyof T & string, T[keyof T & string]]
    >;
  }

  /**
   * Drops every key, including keys another request stored meanwhile. A
   * session that ends the request empty is deleted from the store and its
   * cookie cleared.
   */
  clear(): void {
    const state = this.#state;
    state.data = {};
    const edits = editsOf(state);
    edits.cleared = true;
    edits.changes = null;
    state.modified = true;
  }

  /**
   * Logout: deletes the stored record now, drops the data and the id, and
   * clears the cookie with the response. A slower request still holding the
   * session does not bring it back. Values set afterwards start a new session
   * with a new id.
   */
  async flush(): Promise<void> {
    const state = this.#state;
    await endSession(state);
    state.failedSave = null;
    state.edits = {
      cleared: true,
      changes: null,
      expiry: null,
      idleTimeout: null,
      rotation: null,
    };
    state.modified = true;
  }

  /**
   * Login: keeps the data under a new id, against session fixation. The new
   * id shows at once in {@linkcode Session.id}; when the session is saved,
   * the store writes it and retires the old id in one atomic step, so a
   * handler that fails after `rotate` leaves the old session as it was.
   * Requests that loaded the session before the rotation and save after it
   * land their changes on the rotated session, and are sent no cookie.
   */
  rotate(): Promise<void> {
    const state = this.#state;
    const { held, config } = state;
    if (held !== null) {
      const id = generateId();
      editsOf(state).rotation = {
        id,
        key: storeKey(id),
        successor: config.rotationGraceMs > 0
          ? sealSuccessor(held.id, id)
          : null,
      };
      state.modified = true;
    }
    return Promise.resolve();
  }

  /**
   * Gives this session an idle timeout of its own, stored with it ("remember
   * me": a longer one, or none): seconds, `Infinity` for none, or `null` to
   * go back to the `idleTimeout` option. `expiresAt`, the touches and the
   * stores' garbage collection follow it. Throws a TypeError for anything
   * else.
   *
   * @example
   * ```ts
   * import { getSession, withSession } from "@denokit/session";
   *
   * const handler = withSession(async (req) => {
   *   const session = await getSession(req);
   *   const form = await req.formData();
   *   await session.rotate();
   *   session.set("userId", String(form.get("user")));
   *   // Remembered: a week without visits instead of half an hour.
   *   if (form.get("remember") === "on") session.setIdleTimeout(7 * 86_400);
   *   return new Response("welcome");
   * }, { idleTimeout: 1800 });
   * ```
   */
  setIdleTimeout(seconds: number | null): void {
    let change: IdleChange;
    if (seconds === null) {
      change = { kind: "default" };
    } else if (seconds === Infinity) {
      change = { kind: "set", ms: null };
    } else if (
      typeof seconds === "number" && Number.isFinite(seconds) && seconds > 0 &&
      seconds * 1000 <= MAX_LIFETIME_MS
    ) {
      change = { kind: "set", ms: seconds * 1000 };
    } else {
      throw new TypeError(
        `setIdleTimeout takes seconds (> 0, at most ${MAX_LIFETIME_DAYS} days), Infinity for none, or null; got ${
          show(seconds)
        }`,
      );
    }
    editsOf(this.#state).idleTimeout = change;
    this.#state.modified = true;
  }

  /**
   * A handle for this session, fit for logs and device lists: not its id,
   * and the id cannot be found from it; the same as in `listUserSessions`
   * and the `onEvent` events. `null` until the session is stored; it changes
   * with `rotate()`.
   */
  get handle(): string | null {
    const { edits, held } = this.#state;
    const key = edits?.rotation?.key ?? held?.key;
    return key === undefined ? null : handleOf(key);
  }

  /**
   * Changes when the session expires, Django's `set_expiry`: a number of
   * seconds from now or a Date replaces the absolute deadline (the idle
   * timeout still applies) and makes the cookie persistent, even under
   * `expireAtBrowserClose`; `0` makes the cookie last until the browser
   * closes; `null` restores the defaults. A deadline already past ends the
   * session with this response. Throws a RangeError for a lifetime past 400
   * days (no browser keeps a cookie longer), and a TypeError for anything
   * else.
   */
  setExpiry(value: number | Date | 0 | null): void {
    const state = this.#state;
    let expiry: ExpiryChange;
    if (value === null) {
      expiry = { kind: "default" };
    } else if (value === 0) {
      expiry = { kind: "browser" };
    } else if (value instanceof Date) {
      const time = value.getTime();
      if (Number.isNaN(time)) {
        throw new TypeError("setExpiry: the Date is invalid");
      }
      if (time - state.now > MAX_LIFETIME_MS) {
        throw new RangeError(
          `setExpiry: ${value.toISOString()} is more than ${MAX_LIFETIME_DAYS} days away; browsers keep a cookie at most ${MAX_LIFETIME_DAYS} days (RFC 6265bis)`,
        );
      }
      expiry = { kind: "at", time };
    } else if (
      typeof value === "number" && Number.isFinite(value) && value > 0
    ) {
      if (value * 1000 > MAX_LIFETIME_MS) {
        throw new RangeError(
          `setExpiry: ${value} seconds is more than ${MAX_LIFETIME_DAYS} days; browsers keep a cookie at most ${MAX_LIFETIME_DAYS} days (RFC 6265bis)`,
        );
      }
      expiry = { kind: "at", time: state.now + value * 1000 };
    } else {
      throw new TypeError(
        `setExpiry takes seconds (> 0), a Date, 0 or null; got ${show(value)}`,
      );
    }
    editsOf(state).expiry = expiry;
    state.modified = true;
  }

  /**
   * Django's test cookie, for telling a visitor whose browser refuses
   * cookies: set it on one request (the login form), and ask
   * {@linkcode Session.testCookieWorked} on the next (the form's POST). It is
   * the key `"testcookie"` holding `"worked"`, as in Django; like any change,
   * it stores the session.
   */
  setTestCookie(): void {
    this.#set(TEST_COOKIE, TEST_COOKIE_WORKED);
  }

  /** Whether the test cookie set by an earlier request came back. */
  testCookieWorked(): boolean {
    return this.#get(TEST_COOKIE) === TEST_COOKIE_WORKED;
  }

  /** Removes the test cookie, once it served. */
  deleteTestCookie(): void {
    this.#delete(TEST_COOKIE);
  }

  /**
   * Saves the session now, as the response would, for a handler that must
   * know the outcome before it answers (before streaming a body, or to catch
   * a store error itself). The response then saves again only what changes
   * after this call. Resolves to `true` once everything the request changed
   * is stored (or there was nothing to store), and to `false` when nothing
   * could be: the session ended in another request meanwhile (a logout), and
   * a logged-out session is never brought back. Rejects when the store
   * fails, storing nothing.
   *
   * @example
   * ```ts
   * import { getSession, withSession } from "@denokit/session";
   *
   * const handler = withSession(async (req) => {
   *   const session = await getSession(req);
   *   session.set("cart", ["apple"]);
   *   if (!await session.save()) {
   *     return new Response("You were logged out meanwhile", { status: 409 });
   *   }
   *   return new Response("saved");
   * });
   * ```
   */
  save(): Promise<boolean> {
    return saveSession(this.#state);
  }
}
