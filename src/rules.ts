/**
 * Django's SessionMiddleware rules, applied to a response: whether the
 * session is saved, and what the response carries for it (`Vary: Cookie`,
 * the session cookie set or cleared).
 *
 * @module
 */

import { hasWork, saveSession } from "./save.ts";
import type { SessionState } from "./session.ts";

/**
 * The save a response of `status` makes: a promise of it, or null when there
 * is nothing to save. A status of 500 or more saves nothing (what an explicit
 * `save()` stored stays, and its cookie is sent).
 */
export function responseSave(
  state: SessionState,
  status: number,
): Promise<boolean> | null {
  return status < 500 && hasWork(state) ? saveSession(state, true) : null;
}

/**
 * The Set-Cookie value a response of `status` carries once its save is done,
 * or null; `url` is the request's (https: makes `secure: "auto"` Secure).
 */
export function responseCookie(
  state: SessionState,
  status: number,
  url: string,
): string | null {
  const action = state.cookieAction ??
    (status >= 500 ? "none" : defaultAction(state));
  if (action === "none") return null;
  const { config } = state;
  const secure = config.secure === "auto"
    ? url.startsWith("https:")
    : config.secure;
  if (action === "clear") return config.setCookie.clear(secure);
  const { held, cookie: incoming } = state;
  if (held === null) return null;
  const record = held.stored.record;
  // The value that came in is still right if it was signed with the first
  // secret for this id: HMAC is deterministic, so no need to sign again.
  const value = config.signer === null
    ? held.id
    : typeof incoming === "object" && incoming !== null && !incoming.stale &&
        incoming.id === held.id
    ? incoming.value
    : config.signer.sign(held.id);
  if (record.browserSession) return config.setCookie.set(value, secure);
  const maxAge = Math.max(
    0,
    Math.ceil((record.absoluteExpiresAt - state.now) / 1000),
  );
  return config.setCookie.set(value, secure, maxAge, state.now);
}

/**
 * The cookie a response sends when no save decided it: an unknown, forged
 * or expired cookie is cleared (rule 4), one signed with an older secret is
 * sent signed afresh.
 */
function defaultAction(state: SessionState): "send" | "clear" | "none" {
  const { held, cookie } = state;
  if (held === null) return cookie === null ? "none" : "clear";
  if (held.rotatedAway) return "none";
  return typeof cookie === "object" && cookie?.stale === true ? "send" : "none";
}

/** Adds `Vary: Cookie` (once, beside any other Vary) and the Set-Cookie value. */
export function applyHeaders(
  headers: Pick<Headers, "get" | "set" | "append">,
  setCookie: string | null,
): void {
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
  if (setCookie !== null) headers.append("set-cookie", setCookie);
}

/**
 * `response` with the session's headers, copied first when its headers are
 * immutable (`Response.redirect`, a `fetch` result).
 */
export function withHeaders(
  response: Response,
  setCookie: string | null,
): Response {
  try {
    applyHeaders(response.headers, setCookie);
    return response;
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    const copy = new Response(response.body, response);
    applyHeaders(copy.headers, setCookie);
    return copy;
  }
}
