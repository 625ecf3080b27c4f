/**
 * The options of `withSession`, checked once, up front.
 *
 * @module
 */

import { isAttributeValue, isCookieName, SetCookieFormat } from "./cookie.ts";
import { CookieVerifier, Signer } from "./id.ts";
import type { SessionStore } from "./store.ts";
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
 *   secrets: ["a long random secret", "the one it replaced"],
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
  /** Seconds from creation until a session expires, whatever the activity. Default 1209600 (two weeks). */
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
  /** Sign the cookie with HMAC-SHA256: the first secret signs, every one verifies. */
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
  /** Clock in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

/** Options resolved to what the middleware reads on every request. */
export interface Config {
  store: SessionStore;
  /** The store's writes, coalesced per session. */
  writer: Writer;
  conflictTimeoutMs: number;
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

function fail(message: string): never {
  throw new TypeError(`withSession: ${message}`);
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

  const secrets = options.secrets;
  if (secrets !== undefined) {
    if (!Array.isArray(secrets) || secrets.length === 0) {
      fail("secrets must be a non-empty array of strings");
    }
    for (const secret of secrets) {
      if (typeof secret !== "string" || secret.length === 0) {
        fail("every secret must be a non-empty string");
      }
    }
  }

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

  const signer = secrets === undefined ? null : new Signer(secrets);
  return {
    store,
    writer: writerFor(store),
    conflictTimeoutMs,
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
