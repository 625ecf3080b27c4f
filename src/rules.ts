/**
 * Django's SessionMiddleware rules, applied to a response: whether the
 * session is saved, and what the response carries for it (`Vary: Cookie`,
 * the session cookie set or cleared, or the session header).
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
 * What a response carries for its session besides `Vary`: the Set-Cookie
 * value, or with the header transport the header to set (empty when the
 * session ended).
 */
export interface SessionHeaders {
  readonly setCookie: string | null;
  readonly header: readonly [name: string, value: string] | null;
}

/** What the rules use of a response's headers: npm's Oak hands out undici's. */
export type HeadersLike = Pick<Headers, "get" | "set" | "append">;

/** Nothing but `Vary`. */
export const VARY_ONLY: SessionHeaders = { setCookie: null, header: null };

/** What a response of `status` carries for its session once its save is done. */
export function responseHeaders(
  state: SessionState,
  status: number,
  request: Request,
): SessionHeaders {
  const action = state.cookieAction ??
    (status >= 500 ? "none" : defaultAction(state));
  if (action === "none") return VARY_ONLY;
  const { config, held } = state;
  if (state.transport === "header" && config.header !== null) {
    const value = action === "clear" || held === null ? "" : valueOf(state);
    return { setCookie: null, header: [config.header, value] };
  }
  const secure = isSecure(config, request);
  if (action === "clear") {
    return { setCookie: config.setCookie.clear(secure), header: null };
  }
  if (held === null) return VARY_ONLY;
  const record = held.stored.record;
  const value = valueOf(state);
  if (record.browserSession) {
    return { setCookie: config.setCookie.set(value, secure), header: null };
  }
  const maxAge = Math.max(
    0,
    Math.ceil((record.absoluteExpiresAt - state.now) / 1000),
  );
  return {
    setCookie: config.setCookie.set(value, secure, maxAge, state.now),
    header: null,
  };
}

/**
 * The value that carries the held session: its id, signed with `secrets`;
 * with a `CookieStore`, the sealed session itself.
 */
function valueOf(state: SessionState): string {
  const { config, held, cookie: incoming } = state;
  if (held === null) return "";
  if (config.sealer !== null) return held.stored.version;
  // The value that came in is still right if it was signed with the first
  // secret for this id: HMAC is deterministic, so no need to sign again.
  return config.signer === null
    ? held.id
    : typeof incoming === "object" && incoming !== null && !incoming.stale &&
        incoming.id === held.id
    ? incoming.value
    : config.signer.sign(held.id);
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
 * Adds `Vary: Cookie` (and the session header's name, with the header
 * transport; each once, beside any other Vary), and the Set-Cookie value or
 * the session header; a response that carries the session is kept out of
 * shared caches, which would hand it to the next visitor.
 */
export function applyHeaders(
  headers: HeadersLike,
  config: Config,
  session: SessionHeaders,
): void {
  addVary(headers, "Cookie");
  if (config.header !== null) addVary(headers, config.header);
  if (session.setCookie !== null) {
    headers.append("set-cookie", session.setCookie);
    keepPrivate(headers);
  }
  if (session.header !== null) {
    headers.set(session.header[0], session.header[1]);
    keepPrivate(headers);
  }
}

/** Adds `name` to Vary unless it (or `*`) is there. */
function addVary(headers: HeadersLike, name: string): void {
  const vary = headers.get("vary");
  if (vary === null) {
    headers.set("vary", name);
    return;
  }
  const lower = name.toLowerCase();
  if (
    !vary.split(",").some((token) => {
      const listed = token.trim().toLowerCase();
      return listed === lower || listed === "*";
    })
  ) {
    headers.set("vary", `${vary}, ${name}`);
  }
}

/**
 * Makes a response unstorable by shared caches (`private`, RFC 9111),
 * whatever the handler set: `public` and `s-maxage` are dropped, the other
 * directives kept; `no-store` or `private` already do.
 */
function keepPrivate(headers: HeadersLike): void {
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
  config: Config,
  session: SessionHeaders,
): Response {
  try {
    applyHeaders(response.headers, config, session);
    return response;
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    const copy = new Response(response.body, response);
    applyHeaders(copy.headers, config, session);
    return copy;
  }
}
