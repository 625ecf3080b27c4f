/**
 * Django's SessionMiddleware rules, applied to a response: whether the
 * session is saved, and what the response carries for it (`Vary: Cookie`,
 * the session cookie set or cleared).
 *
 * @module
 */

import type { Config } from "./options.ts";
import { hasWork, saveSession } from "./save.ts";
import type { SessionState } from "./session.ts";

/**
 * The save a response of `status` makes: a promise of it, or null when there
 * is nothing to save. A status of 500 or more saves nothing (what an explicit
 * `save()` stored stays, and its cookie is sent), nor does a response to an
 * explicit save that failed, unless the session changed after it.
 */
export function responseSave(
  state: SessionState,
  status: number,
): Promise<boolean> | null {
  // An explicit save that failed was the handler's to answer: not again.
  if (status >= 500) return null;
  if (state.failedSave !== null && state.edits === state.failedSave) {
    return null;
  }
  return hasWork(state) ? saveSession(state, true) : null;
}

/**
 * The Set-Cookie value a response of `status` carries once its save is done,
 * or null.
 */
export function responseCookie(
  state: SessionState,
  status: number,
  request: Request,
): string | null {
  const action = state.cookieAction ??
    (status >= 500 ? "none" : defaultAction(state));
  if (action === "none") return null;
  const { config } = state;
  const secure = isSecure(config, request);
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
 * Whether the cookie is Secure: `cookie.secure`, or with `"auto"` whether the
 * request came over https, as its URL says or, with `trustProxy`, the proxy
 * in front: the last `proto` of `Forwarded` or the last value of
 * `X-Forwarded-Proto`, the ones the proxy nearest this server added (a
 * client can send any of the earlier ones).
 */
function isSecure(config: Config, request: Request): boolean {
  if (config.secure !== "auto") return config.secure;
  if (request.url.startsWith("https:")) return true;
  if (!config.trustProxy) return false;
  const headers = request.headers;
  const forwarded = headers.get("forwarded");
  if (forwarded !== null) {
    const nearest = forwarded.slice(forwarded.lastIndexOf(",") + 1);
    for (const pair of nearest.split(";")) {
      const equals = pair.indexOf("=");
      if (pair.slice(0, equals).trim().toLowerCase() !== "proto") continue;
      return pair.slice(equals + 1).trim().replace(/^"|"$/g, "")
        .toLowerCase() === "https";
    }
  }
  const proto = headers.get("x-forwarded-proto");
  if (proto === null) return false;
  return proto.slice(proto.lastIndexOf(",") + 1).trim().toLowerCase() ===
    "https";
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

/**
 * Adds `Vary: Cookie` (once, beside any other Vary) and the Set-Cookie value;
 * a response that sets the cookie is kept out of shared caches, which would
 * hand the session to the next visitor.
 */
export function applyHeaders(headers: Headers, setCookie: string | null): void {
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
  if (setCookie !== null) {
    headers.append("set-cookie", setCookie);
    keepPrivate(headers);
  }
}

/**
 * Makes a response unstorable by shared caches (`private`, RFC 9111),
 * whatever the handler set: `public` and `s-maxage` are dropped, the other
 * directives kept; `no-store` or `private` already do.
 */
function keepPrivate(headers: Headers): void {
  const value = headers.get("cache-control");
  if (value === null) {
    headers.set("cache-control", "private");
    return;
  }
  const directives = value.split(",").map((d) => d.trim()).filter((d) =>
    d !== "" && !/^public$/i.test(d) && !/^s-maxage\s*=/i.test(d)
  );
  if (!directives.some((d) => /^(private|no-store)$/i.test(d))) {
    directives.unshift("private");
  }
  headers.set("cache-control", directives.join(", "));
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
