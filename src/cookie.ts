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
 * pairs are skipped; nothing throws, whatever the header holds.
 */
export function getCookieValues(header: string, name: string): string[] {
  const values: string[] = [];
  let start = 0;
  while (start < header.length && values.length < MAX_CANDIDATES) {
    let end = header.indexOf(";", start);
    if (end === -1) end = header.length;
    const equals = header.indexOf("=", start);
    if (equals !== -1 && equals < end) {
      if (header.slice(start, equals).trim() === name) {
        let value = header.slice(equals + 1, end).trim();
        if (
          value.length >= 2 && value.startsWith('"') && value.endsWith('"')
        ) {
          value = value.slice(1, -1);
        }
        values.push(value);
      }
    }
    start = end + 1;
  }
  return values;
}

/** The attributes of a Set-Cookie value. */
export interface CookieAttributes {
  path: string;
  domain?: string;
  /** Seconds; absent for a cookie that lasts until the browser closes. */
  maxAge?: number;
  httpOnly: boolean;
  secure: boolean;
  sameSite: "Strict" | "Lax" | "None";
  partitioned: boolean;
}

/**
 * A Set-Cookie value. With `maxAge`, both Max-Age and Expires are written, for
 * the clients that know only Expires; `now` is the clock behind Expires.
 */
export function serializeCookie(
  name: string,
  value: string,
  attributes: CookieAttributes,
  now: number,
): string {
  let cookie = `${name}=${value}; Path=${attributes.path}`;
  if (attributes.domain !== undefined) {
    cookie += `; Domain=${attributes.domain}`;
  }
  if (attributes.maxAge !== undefined) {
    const expires = new Date(now + attributes.maxAge * 1000).toUTCString();
    cookie += `; Max-Age=${attributes.maxAge}; Expires=${expires}`;
  }
  if (attributes.httpOnly) cookie += "; HttpOnly";
  if (attributes.secure) cookie += "; Secure";
  cookie += `; SameSite=${attributes.sameSite}`;
  if (attributes.partitioned) cookie += "; Partitioned";
  return cookie;
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
