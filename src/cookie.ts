/**
 * Reading the session cookie from a Cookie header and writing Set-Cookie
 * values (RFC 6265).
 *
 * @module
 */

/** A header value may repeat a name; past this many, the rest are ignored. */
export const MAX_CANDIDATES = 8;

/**
 * The values of the cookies named `name` in a Cookie header, in the order the
 * browser sent them (most specific path first), at most
 * {@linkcode MAX_CANDIDATES}. Surrounding double quotes are removed. Malformed
 * pairs are skipped; nothing throws, whatever the header holds, and the time
 * taken is linear in the header's length.
 */
export function getCookieValues(header: string, name: string): string[] {
  const values: string[] = [];
  let start = 0;
  // The next "=" at or after `start`: searched again only once passed, so
  // that pairs without one do not each scan the rest of the header.
  let equals = -1;
  while (start < header.length && values.length < MAX_CANDIDATES) {
    if (equals < start) {
      equals = header.indexOf("=", start);
      if (equals === -1) break;
    }
    let end = header.indexOf(";", start);
    if (end === -1) end = header.length;
    if (equals < end && header.slice(start, equals).trim() === name) {
      let value = header.slice(equals + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
        value = value.slice(1, -1);
      }
      values.push(value);
    }
    start = end + 1;
  }
  return values;
}

/** The attributes of the session cookie, but for Secure (which may follow the request). */
export interface CookieAttributes {
  path: string;
  domain?: string;
  httpOnly: boolean;
  sameSite: "Strict" | "Lax" | "None";
  partitioned: boolean;
}

/**
 * The Set-Cookie values of one cookie, its attributes turned into text once
 * (they are the same on every response), in this order: Path, Domain,
 * Max-Age, Expires, HttpOnly, Secure, SameSite, Partitioned.
 */
export class SetCookieFormat {
  readonly #name: string;
  /** `; Path=...` and `; Domain=...`. */
  readonly #head: string;
  /** From HttpOnly on, without Secure and with it. */
  readonly #tails: readonly [string, string];

  constructor(name: string, attributes: CookieAttributes) {
    this.#name = name;
    this.#head = `; Path=${attributes.path}` +
      (attributes.domain === undefined ? "" : `; Domain=${attributes.domain}`);
    const tail = (secure: boolean) =>
      (attributes.httpOnly ? "; HttpOnly" : "") + (secure ? "; Secure" : "") +
      `; SameSite=${attributes.sameSite}` +
      (attributes.partitioned ? "; Partitioned" : "");
    this.#tails = [tail(false), tail(true)];
  }

  /**
   * The cookie set to `value`. With `maxAge` (seconds), both Max-Age and
   * Expires are written, for the clients that know only Expires, `now`
   * being the clock behind Expires; without, it lasts until the browser
   * closes.
   */
  set(value: string, secure: boolean, maxAge?: number, now = 0): string {
    const lifetime = maxAge === undefined
      ? ""
      : `; Max-Age=${maxAge}; Expires=${httpDate(now + maxAge * 1000)}`;
    return `${this.#name}=${value}${this.#head}${lifetime}${
      this.#tails[secure ? 1 : 0]
    }`;
  }

  /** The cookie cleared: empty, Max-Age=0 and an Expires in 1970. */
  clear(secure: boolean): string {
    return this.set("", secure, 0, 0);
  }
}

const DAY_MS = 86_400_000;
/** The last day of year 9999: past it, dates are no longer 29 characters. */
const LAST_DAY = 2_932_896;
/** `"00"` to `"59"`. */
const TWO_DIGITS = Array.from(
  { length: 60 },
  (_, n) => String(n).padStart(2, "0"),
);
/** `"Thu, 01 Jan 2026 "` by day number, for the few days in use. */
const dayPrefixes = new Map<number, string>();

/**
 * `new Date(ms).toUTCString()` ("Thu, 01 Jan 2026 00:01:00 GMT"), the date
 * part remembered per day: it is on every Set-Cookie that carries Expires.
 */
export function httpDate(ms: number): string {
  const day = Math.floor(ms / DAY_MS);
  if (!(day >= 0 && day <= LAST_DAY)) return new Date(ms).toUTCString();
  let prefix = dayPrefixes.get(day);
  if (prefix === undefined) {
    if (dayPrefixes.size >= 64) dayPrefixes.clear();
    prefix = new Date(day * DAY_MS).toUTCString().slice(0, 17);
    dayPrefixes.set(day, prefix);
  }
  const seconds = Math.floor((ms - day * DAY_MS) / 1000);
  return `${prefix}${TWO_DIGITS[Math.floor(seconds / 3600)]}:${
    TWO_DIGITS[Math.floor(seconds / 60) % 60]
  }:${TWO_DIGITS[seconds % 60]} GMT`;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Printable ASCII without ";": what an attribute value may hold.
const ATTRIBUTE_VALUE = /^[\x20-\x3a\x3c-\x7e]+$/;

/** Whether `name` may be a cookie name (an RFC 7230 token). */
export function isCookieName(name: string): boolean {
  return TOKEN.test(name);
}

/** Whether `value` may stand as a Path or Domain attribute value. */
export function isAttributeValue(value: string): boolean {
  return ATTRIBUTE_VALUE.test(value);
}
