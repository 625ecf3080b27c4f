/**
 * The options of `withSession`, checked once, up front.
 *
 * @module
 */

import { isAttributeValue, isCookieName, SetCookieFormat } from "./cookie.ts";
import { checkSecrets, CookieVerifier, Signer } from "./id.ts";
import type { SessionEvent } from "./events.ts";
import { isUserIndex, type SessionStore } from "./store.ts";
import { type Sealer, sealerOf } from "./stores/cookie.ts";
import { MemoryStore } from "./stores/memory.ts";
import { type Writer, writerFor } from "./write.ts";

/**
 * The session cookie's name and attributes.
 *
 * @example A cookie shared by the subdomains of example.com
 * ```ts
 * import { withSession } from "@denokit/session";
 *
 * const handler = withSession(() => new Response("ok"), {
 *   cookie: { domain: "example.com", secure: true, sameSite: "Lax" },
 * });
 * ```
 */
export interface CookieOptions {
  /** Default `"sessionid"`, Django's. A `__Host-` name forces Secure, Path=/ and no Domain. */
  name?: string;
  /** Default `"/"`. */
  path?: string;
  /** Default none: the cookie goes back to this host only. */
  domain?: string;
  /** `"auto"` (default): Secure when the request URL is https. */
  secure?: boolean | "auto";
  /** Default true: scripts cannot read the cookie. */
  httpOnly?: boolean;
  /** Default `"Lax"`. `"None"` needs `secure: true`. */
  sameSite?: "Strict" | "Lax" | "None";
  /** CHIPS: a cookie partitioned by top-level site. Default false. */
  partitioned?: boolean;
}

/**
 * Options for `withSession`. Every duration is in seconds.
 *
 * @example Log out after 30 idle minutes or 8 hours, with a signed cookie
 * ```ts
 * import { type SessionOptions, withSession } from "@denokit/session";
 *
 * const options: SessionOptions = {
 *   absoluteTimeout: 8 * 60 * 60,
 *   idleTimeout: 30 * 60,
 *   // 32 random bytes each, e.g. from crypto.getRandomValues(...).toHex()
 *   secrets: [
 *     "0d3e6a1f9b8c47e2a5d4c3b2a19f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7",
 *     "c1b2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2",
 *   ],
 *   cookie: { name: "__Host-sid", sameSite: "Strict" },
 * };
 * const handler = withSession(() => new Response("ok"), options);
 * ```
 */
export interface SessionOptions {
  /**
   * Where sessions live. Default a new `MemoryStore`, which holds them in
   * this process: under `deno serve --parallel` or several processes, give
   * every worker a `KvStore` on one database or a `FileStore` on one
   * directory, or each has sessions of its own.
   */
  store?: SessionStore;
  /**
   * Seconds from creation until a session expires, whatever the activity.
   * Default 1209600 (two weeks); at most 34560000 (400 days, the longest a
   * browser keeps a cookie).
   */
  absoluteTimeout?: number;
  /** Seconds without a request that reads the session until it expires. Default `null`: no idle timeout. */
  idleTimeout?: number | null;
  /**
   * With `idleTimeout`: a read refreshes the idle deadline in the store at
   * most this often. Default a tenth of `idleTimeout`, at most 60. Must be
   * less than `idleTimeout`.
   */
  touchInterval?: number;
  /** Cookies without Max-Age or Expires, dropped when the browser closes. Default false. */
  expireAtBrowserClose?: boolean;
  /** Save and send the cookie on every request that reads the session. Default false. */
  saveEveryRequest?: boolean;
  /**
   * Sign the cookie with HMAC-SHA256: the first secret signs, every one
   * verifies. Each must be at least 32 bytes, and not repetitive: 32 random
   * bytes in hex (64 characters) is right.
   */
  secrets?: string[];
  /** The session cookie. */
  cookie?: CookieOptions;
  /**
   * Seconds a save keeps retrying while other processes keep writing the
   * same session first (each retry re-reads it and applies the request's
   * changes again), before it fails. Within one process saves never race:
   * they are queued and written together. Default 5.
   */
  conflictTimeout?: number;
  /**
   * Seconds a store call may take before it fails (rejecting `getSession`,
   * or failing the save), so that a hung store never hangs a request for
   * good; what the store does meanwhile may still happen. `null`: no
   * timeout, for a store that answers in-process and cannot hang (as
   * `MemoryStore` and `CookieStore`, which are never timed). Default 10.
   */
  storeTimeout?: number | null;
  /**
   * Behind a reverse proxy that terminates TLS: trust its `Forwarded`
   * (`proto=https`) or `X-Forwarded-Proto` header for `cookie.secure:
   * "auto"`. Only when every request comes through such a proxy: a client
   * talking to the server directly could send them. Default false: the
   * headers are ignored.
   */
  trustProxy?: boolean;
  /**
   * The data key that holds the signed-in user's id (e.g. `"userId"`): with
   * it, every session whose data holds a string or number there is filed
   * under that user, for `listUserSessions` and `endUserSessions`. The store
   * must be a {@linkcode UserIndex} (MemoryStore, KvStore, FileStore and
   * RedisStore are; CookieStore is not). Default none.
   */
  userKey?: string;
  /**
   * Seconds a rotated-away id keeps working after `rotate()`: a request that
   * still carries it (a parallel tab, an image that loaded before the login
   * answer arrived) gets the rotated session and is sent the new cookie.
   * Default 0: the old id opens nothing at once.
   */
  rotationGrace?: number;
  /**
   * Told when a session is created, rotated, found expired, flushed, or
   * ended by `endUserSessions`, after the store has the change. Never
   * awaited, so a slow hook delays no response; what it throws or rejects
   * with is reported on `console.error` and changes nothing.
   */
  onEvent?: (event: SessionEvent) => void | Promise<void>;
  /**
   * A request header that also carries the session id, for API and mobile
   * clients without cookies, e.g. `"X-Session-Id"`: a client that sends it
   * (empty while it has no session) is answered in the same header with a
   * new or rotated id, and with an empty one when the session ends, instead
   * of a cookie. Signed like the cookie with `secrets`. When a request
   * carries both, the header's value is tried first; a session that the
   * cookie opens is answered in the cookie (so that a page's script cannot
   * read an HttpOnly cookie's id by sending the header). Default none.
   */
  header?: string;
  /** Clock in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

/** Options resolved to what the middleware reads on every request. */
export interface Config {
  store: SessionStore;
  /** The store's writes, coalesced per session. */
  writer: Writer;
  conflictTimeoutMs: number;
  /** Null for a store that cannot hang (MemoryStore). */
  storeTimeoutMs: number | null;
  trustProxy: boolean;
  userKey: string | null;
  rotationGraceMs: number;
  /** The header transport's header name, or null. */
  header: string | null;
  /** With a `CookieStore`, what seals and opens the cookie; else null. */
  sealer: Sealer | null;
  onEvent: ((event: SessionEvent) => void | Promise<void>) | null;
  absoluteTimeoutMs: number;
  idleTimeoutMs: number | null;
  touchIntervalMs: number;
  expireAtBrowserClose: boolean;
  saveEveryRequest: boolean;
  signer: Signer | null;
  /** Checks cookie values and remembers the good ones. */
  cookies: CookieVerifier;
  cookieName: string;
  /** The session cookie's Set-Cookie values, but for Secure. */
  setCookie: SetCookieFormat;
  /** `"auto"`: Secure when the request URL is https. */
  secure: boolean | "auto";
  now: () => number;
}

/**
 * The longest lifetime of a session: browsers cap a cookie's Max-Age and
 * Expires at 400 days (RFC 6265bis), so a longer one would outlive its cookie.
 */
export const MAX_LIFETIME_DAYS = 400;
/** {@linkcode MAX_LIFETIME_DAYS} in milliseconds. */
export const MAX_LIFETIME_MS = MAX_LIFETIME_DAYS * 86_400_000;

/** Headers the transport must not take over. */
const RESERVED_HEADERS = new Set([
  "cookie",
  "set-cookie",
  "authorization",
  "host",
  "content-type",
  "content-length",
  "vary",
  "cache-control",
]);

function fail(message: string): never {
  // The same options serve withSession, SessionManager and the framework
  // middleware: the message names the option, not the caller.
  throw new TypeError(`session options: ${message}`);
}

/** A value as it reads in an error message: strings quoted. */
export function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

const OPTION_NAMES = new Set([
  "store",
  "absoluteTimeout",
  "idleTimeout",
  "touchInterval",
  "expireAtBrowserClose",
  "saveEveryRequest",
  "secrets",
  "cookie",
  "conflictTimeout",
  "storeTimeout",
  "trustProxy",
  "userKey",
  "rotationGrace",
  "onEvent",
  "header",
  "now",
]);
const COOKIE_OPTION_NAMES = new Set([
  "name",
  "path",
  "domain",
  "secure",
  "httpOnly",
  "sameSite",
  "partitioned",
]);

/** Refuses an object that is not one, or that has a key not in `known` (a typo). */
function checkKeys(what: string, value: unknown, known: Set<string>): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(`${what} must be an object, got ${show(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!known.has(key)) {
      fail(
        `unknown option ${what === "options" ? "" : `${what}.`}${key}; known: ${
          [...known].join(", ")
        }`,
      );
    }
  }
}

function boolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    fail(`${name} must be true or false, got ${show(value)}`);
  }
  return value;
}

function seconds(name: string, value: number, allowZero: boolean): number {
  if (
    typeof value !== "number" || !Number.isFinite(value) || value < 0 ||
    (value === 0 && !allowZero)
  ) {
    fail(
      `${name} must be a finite number of seconds ${
        allowZero ? ">= 0" : "> 0"
      }, got ${show(value)}`,
    );
  }
  return value * 1000;
}

/** Checks `options` and fills in the defaults; throws a TypeError naming the bad option. */
export function resolveOptions(options: SessionOptions): Config {
  checkKeys("options", options, OPTION_NAMES);
  const absoluteTimeoutMs = seconds(
    "absoluteTimeout",
    options.absoluteTimeout ?? 1_209_600,
    false,
  );
  if (absoluteTimeoutMs > MAX_LIFETIME_MS) {
    fail(
      `absoluteTimeout ${options.absoluteTimeout} is more than ${MAX_LIFETIME_DAYS} days (${
        MAX_LIFETIME_MS / 1000
      } s); browsers keep a cookie at most ${MAX_LIFETIME_DAYS} days (RFC 6265bis)`,
    );
  }
  const idleTimeout = options.idleTimeout ?? null;
  const idleTimeoutMs = idleTimeout === null
    ? null
    : seconds("idleTimeout", idleTimeout, false);
  let touchIntervalMs = 0;
  if (options.touchInterval !== undefined) {
    if (idleTimeoutMs === null) {
      fail("touchInterval has no meaning without idleTimeout");
    }
    touchIntervalMs = seconds("touchInterval", options.touchInterval, true);
    if (touchIntervalMs >= idleTimeoutMs) {
      fail(
        `touchInterval (${options.touchInterval}) must be less than idleTimeout (${idleTimeout})`,
      );
    }
  } else if (idleTimeoutMs !== null) {
    touchIntervalMs = Math.min(60_000, idleTimeoutMs / 10);
  }

  const secrets = options.secrets === undefined
    ? undefined
    : checkSecrets("withSession", "an HMAC key", options.secrets);

  const cookie = options.cookie === undefined ? {} : options.cookie;
  checkKeys("cookie", cookie, COOKIE_OPTION_NAMES);
  const cookieName = cookie.name ?? "sessionid";
  if (typeof cookieName !== "string" || !isCookieName(cookieName)) {
    fail(
      `cookie.name ${JSON.stringify(cookieName)} is not a valid cookie name`,
    );
  }
  const path = cookie.path ?? "/";
  if (!path.startsWith("/") || !isAttributeValue(path)) {
    fail(
      `cookie.path must start with "/" and hold no ";" or control characters, got ${
        JSON.stringify(path)
      }`,
    );
  }
  const domain = cookie.domain;
  if (
    domain !== undefined && !/^\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(domain)
  ) {
    fail(`cookie.domain ${JSON.stringify(domain)} is not a host name`);
  }
  let secure = cookie.secure ?? "auto";
  if (secure !== true && secure !== false && secure !== "auto") {
    fail(`cookie.secure must be true, false or "auto", got ${show(secure)}`);
  }
  const sameSite = cookie.sameSite ?? "Lax";
  if (sameSite !== "Strict" && sameSite !== "Lax" && sameSite !== "None") {
    fail(
      `cookie.sameSite must be "Strict", "Lax" or "None", got ${
        String(sameSite)
      }`,
    );
  }
  if (sameSite === "None" && secure !== true) {
    fail(
      'cookie.sameSite "None" needs cookie.secure: true (browsers drop it otherwise)',
    );
  }
  const prefixed = cookieName.startsWith("__Host-") ||
    cookieName.startsWith("__Secure-");
  if (prefixed) {
    if (secure === false) {
      fail(`a cookie named ${cookieName} must be Secure; drop secure: false`);
    }
    secure = true;
  }
  if (
    cookieName.startsWith("__Host-") && (domain !== undefined || path !== "/")
  ) {
    fail(`a cookie named ${cookieName} must have path "/" and no domain`);
  }

  const partitioned = boolean("cookie.partitioned", cookie.partitioned, false);
  if (partitioned && secure !== true) {
    fail(
      "cookie.partitioned needs cookie.secure: true (browsers drop it otherwise)",
    );
  }

  const now = options.now ?? Date.now;
  if (typeof now !== "function") {
    fail("now must be a function returning epoch milliseconds");
  }

  const store = options.store ?? new MemoryStore();
  if (
    typeof store?.get !== "function" || typeof store.set !== "function" ||
    typeof store.delete !== "function"
  ) {
    fail("store must implement SessionStore: get, set and delete");
  }

  const conflictTimeoutMs = seconds(
    "conflictTimeout",
    options.conflictTimeout ?? 5,
    false,
  );

  const storeTimeoutMs = options.storeTimeout === null
    ? null
    : seconds("storeTimeout", options.storeTimeout ?? 10, false);

  const userKey = options.userKey ?? null;
  if (userKey !== null) {
    if (typeof userKey !== "string" || userKey === "") {
      fail(`userKey must be a non-empty string, got ${show(userKey)}`);
    }
    if (!isUserIndex(store)) {
      fail(
        "userKey needs a store that files sessions by user (a UserIndex: MemoryStore, KvStore, FileStore and RedisStore are); this store has no listUser()",
      );
    }
  }
  const rotationGraceMs = seconds(
    "rotationGrace",
    options.rotationGrace ?? 0,
    true,
  );
  const onEvent = options.onEvent ?? null;
  if (onEvent !== null && typeof onEvent !== "function") {
    fail(`onEvent must be a function, got ${show(onEvent)}`);
  }
  const sealer = sealerOf(store);
  if (sealer !== null && options.secrets !== undefined) {
    fail(
      "a CookieStore seals the cookie with its own secrets: give them to the CookieStore, not to withSession",
    );
  }
  const header = options.header ?? null;
  if (header !== null) {
    if (typeof header !== "string" || !isCookieName(header)) {
      fail(`header must be a header name (a token), got ${show(header)}`);
    }
    if (RESERVED_HEADERS.has(header.toLowerCase())) {
      fail(
        `header ${
          JSON.stringify(header)
        } is a header with a meaning of its own; name one of yours, e.g. "X-Session-Id"`,
      );
    }
  }
  const writer = writerFor(store);
  if (onEvent !== null) writer.listen(onEvent);

  const signer = secrets === undefined ? null : new Signer(secrets);
  return {
    store,
    writer,
    conflictTimeoutMs,
    storeTimeoutMs: store instanceof MemoryStore || sealer !== null
      ? null
      : storeTimeoutMs,
    trustProxy: boolean("trustProxy", options.trustProxy, false),
    userKey,
    rotationGraceMs,
    header,
    sealer,
    onEvent,
    absoluteTimeoutMs,
    idleTimeoutMs,
    touchIntervalMs,
    expireAtBrowserClose: boolean(
      "expireAtBrowserClose",
      options.expireAtBrowserClose,
      false,
    ),
    saveEveryRequest: boolean(
      "saveEveryRequest",
      options.saveEveryRequest,
      false,
    ),
    signer,
    cookies: new CookieVerifier(signer),
    cookieName,
    setCookie: new SetCookieFormat(cookieName, {
      path,
      domain,
      httpOnly: boolean("cookie.httpOnly", cookie.httpOnly, true),
      sameSite,
      partitioned,
    }),
    secure,
    now,
  };
}
