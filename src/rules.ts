/**
 * Django's SessionMiddleware rules, applied to a response: whether the
 * session is saved, and what the response carries for it (`Vary: Cookie`,
 * the session cookie set or cleared).
 *
 * @module
 */

import { serializeCookie } from "./cookie.ts";
import type { Config } from "./options.ts";
import { saveSession } from "./save.ts";
import type { SessionState } from "./session.ts";

/** What a response gets for its session: `Vary: Cookie`, and maybe a cookie. */
export interface SessionHeaders {
  /** The Set-Cookie value to append, or null. */
  readonly setCookie: string | null;
}

/** Only `Vary: Cookie`: what a response gets when the session sends no cookie. */
export const VARY_ONLY: SessionHeaders = { setCookie: null };

/**
 * Saves the session as a response of `status` requires, and says what the
 * response carries. A status of 500 or more saves nothing (what an explicit
 * `save()` stored stays, and its cookie is sent).
 */
export async function applyRules(
  state: SessionState,
  status: number,
  url: string,
): Promise<SessionHeaders> {
  if (status < 500) await saveSession(state);
  const action = state.cookieAction ??
    (status >= 500 ? "none" : defaultAction(state));
  switch (action) {
    case "send":
      return { setCookie: sessionCookie(state, url) };
    case "clear":
      return { setCookie: clearingCookie(state.config, url) };
    case "none":
      return VARY_ONLY;
  }
}

/**
 * The cookie a response sends when no save decided it: an unknown, forged
 * or expired cookie is cleared (rule 4), one signed with an older secret is
 * sent signed afresh.
 */
function defaultAction(state: SessionState): "send" | "clear" | "none" {
  const { held, cookie } = state;
  if (held === null) return cookie.sent ? "clear" : "none";
  if (held.rotatedAway) return "none";
  return cookie.verified?.stale === true ? "send" : "none";
}

function cookieAttributes(config: Config, url: string) {
  return {
    path: config.path,
    domain: config.domain,
    httpOnly: config.httpOnly,
    secure: config.secure === "auto" ? url.startsWith("https:") : config.secure,
    sameSite: config.sameSite,
    partitioned: config.partitioned,
  };
}

/** The Set-Cookie value for the held session. */
function sessionCookie(state: SessionState, url: string): string | null {
  const { config, held, cookie } = state;
  if (held === null) return null;
  const record = held.stored.record;
  const incoming = cookie.verified;
  // The value that came in is still right if it was signed with the first
  // secret for this id: HMAC is deterministic, so no need to sign again.
  const value = config.signer === null
    ? held.id
    : incoming !== null && !incoming.stale && incoming.id === held.id
    ? incoming.value
    : config.signer.sign(held.id);
  const maxAge = record.browserSession ? undefined : Math.max(
    0,
    Math.ceil((record.absoluteExpiresAt - state.now) / 1000),
  );
  return serializeCookie(
    config.cookieName,
    value,
    { ...cookieAttributes(config, url), maxAge },
    state.now,
  );
}

function clearingCookie(config: Config, url: string): string {
  return serializeCookie(
    config.cookieName,
    "",
    { ...cookieAttributes(config, url), maxAge: 0 },
    0,
  );
}

/** Adds `Vary: Cookie` (once, beside any other Vary) and the Set-Cookie value. */
export function applyHeaders(headers: Headers, session: SessionHeaders): void {
  const vary = headers.get("vary");
  if (vary === null) {
    headers.set("vary", "Cookie");
  } else if (
    !vary.split(",").some((token) => {
      const name = token.trim().toLowerCase();
      return name === "cookie" || name === "*";
    })
  ) {
    headers.set("vary", `${vary}, Cookie`);
  }
  if (session.setCookie !== null) {
    headers.append("set-cookie", session.setCookie);
  }
}

/**
 * `response` with the session's headers, copied first when its headers are
 * immutable (`Response.redirect`, a `fetch` result).
 */
export function withHeaders(
  response: Response,
  session: SessionHeaders,
): Response {
  try {
    applyHeaders(response.headers, session);
    return response;
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    const copy = new Response(response.body, response);
    applyHeaders(copy.headers, session);
    return copy;
  }
}
