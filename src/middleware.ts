/**
 * The middleware: loads a request's session when the handler first asks for
 * it, and saves it (or deletes it, or touches it) when the response is ready.
 *
 * @module
 */

import { getCookieValues, serializeCookie } from "./cookie.ts";
import { generateId, storeKey, type VerifiedCookie } from "./id.ts";
import type { JsonValue, SessionData } from "./json.ts";
import { type Config, resolveOptions, type SessionOptions } from "./options.ts";
import {
  absoluteDeadline,
  isBrowserSession,
  isTouchDue,
  Session,
  type SessionState,
} from "./session.ts";
import type { SessionRecord, StoredSession } from "./store.ts";

/** How many times a save re-reads and merges after losing a race. */
const SAVE_ATTEMPTS = 5;

/** One request's bookkeeping, found from the Request object. */
interface RequestContext {
  readonly config: Config;
  loading: Promise<Session> | null;
  state: SessionState | null;
  /** A session cookie came with the request, valid or not. */
  cookieSent: boolean;
  /** The valid session cookie that came with the request, if any. */
  cookie: VerifiedCookie | null;
  /** The cookie was signed with an older secret: send it signed afresh. */
  resign: boolean;
}

/**
 * Where a request's context lives: a property under a private symbol on the
 * Request itself. A WeakMap keyed by the Request cost about 0.7 µs a request
 * under load, in garbage collection (a sixth of a bare Deno.serve request);
 * the property costs about 0.1 µs. (Deno's own Request sets properties on
 * itself lazily, so a frozen Request is no more usable here than there.)
 */
const CONTEXT: unique symbol = Symbol("@denokit/session context");
type Carrier = Request & { [CONTEXT]?: RequestContext };

/**
 * Wraps a `Deno.serve` handler so that it can call {@linkcode getSession}.
 * The signature stays `(req, info)`, so it wraps a plain handler, Hono's
 * `app.fetch` or Oak's `app.handle` alike. Throws a TypeError for invalid
 * options.
 *
 * @example
 * ```ts
 * import { getSession, withSession } from "@denokit/session";
 *
 * const handler = withSession(async (req) => {
 *   const session = await getSession(req);
 *   session.set("sname", "Ram");
 *   return new Response("User session is set");
 * }, { idleTimeout: 30 * 60 });
 * // Deno.serve(handler);
 * ```
 */
export function withSession(
  handler: Deno.ServeHandler,
  options: SessionOptions = {},
): Deno.ServeHandler {
  if (typeof handler !== "function") {
    throw new TypeError(
      `withSession: handler must be a function (req, info) => Response, got ${typeof handler}`,
    );
  }
  const config = resolveOptions(options);
  return async (request, info) => {
    const context: RequestContext = {
      config,
      loading: null,
      state: null,
      cookieSent: false,
      cookie: null,
      resign: false,
    };
    (request as Carrier)[CONTEXT] = context;
    const response = await handler(request, info);
    if (context.loading === null) return response;
    return await finish(context, response, request);
  };
}

/**
 * The session of a request that came through {@linkcode withSession}, loaded
 * on the first call and the same object on every later one. Rejects with a
 * TypeError for any other request, and with the store's error when the store
 * fails (never an empty session in its place).
 *
 * @example
 * ```ts
 * import { getSession, withSession } from "@denokit/session";
 *
 * type Data = { sname: string };
 * const handler = withSession(async (req) => {
 *   const session = await getSession<Data>(req);
 *   const name = session.get("sname");
 *   return new Response(name ? `Welcome ${name}` : "No session yet");
 * });
 * ```
 */
export function getSession<T extends SessionData = SessionData>(
  req: Request,
): Promise<Session<T>> {
  const context = (req as Carrier)[CONTEXT];
  if (context === undefined) {
    return Promise.reject(
      new TypeError(
        "getSession(req): this request did not pass through withSession(handler); wrap the handler given to Deno.serve, and pass the same Request object",
      ),
    );
  }
  context.loading ??= load(context, req);
  return context.loading as Promise<unknown> as Promise<Session<T>>;
}

/** Finds the session cookie in the request, verified. */
function readCookie(
  context: RequestContext,
  request: Request,
): VerifiedCookie | null {
  const header = request.headers.get("cookie");
  if (header === null) return null;
  const { config } = context;
  const values = getCookieValues(header, config.cookieName);
  context.cookieSent = values.length > 0;
  for (const value of values) {
    const cookie = config.cookies.verify(value);
    if (cookie !== null) return cookie;
  }
  return null;
}

function isExpired(
  config: Config,
  record: SessionRecord,
  now: number,
): boolean {
  return now >= record.absoluteExpiresAt ||
    (config.idleTimeoutMs !== null &&
      now >= record.lastActiveAt + config.idleTimeoutMs);
}

async function load(
  context: RequestContext,
  request: Request,
): Promise<Session> {
  const { config } = context;
  const now = config.now();
  const cookie = readCookie(context, request);
  let stored: StoredSession | null = null;
  let wasExpired = false;
  if (cookie !== null) {
    context.resign = cookie.stale;
    stored = await config.store.get(cookie.key);
    if (stored !== null && isExpired(config, stored.record, now)) {
      wasExpired = true;
      stored = null;
      await config.store.delete(cookie.key);
    }
    if (stored === null) {
      config.cookies.forget(cookie);
    } else {
      config.cookies.remember(cookie);
      context.cookie = cookie;
    }
  }
  const state: SessionState = {
    config,
    now,
    id: stored === null ? null : cookie!.id,
    stored,
    key: stored === null ? null : cookie!.key,
    data: new Map(stored === null ? [] : Object.entries(stored.record.data)),
    changes: null,
    cleared: false,
    modified: false,
    isNew: stored === null,
    wasExpired,
    rotating: false,
    expiry: null,
  };
  context.state = state;
  return new Session(state);
}

/** Applies Django's SessionMiddleware rules to the handler's response. */
async function finish(
  context: RequestContext,
  response: Response,
  request: Request,
): Promise<Response> {
  if (context.state === null) {
    // Still loading (the handler did not wait for it), or it failed.
    try {
      await context.loading;
    } catch {
      // The handler saw the store fail and answered anyway: nothing to save.
      return addHeaders(response, null);
    }
  }
  const state = context.state!;
  const { config } = state;
  if (response.status >= 500) return addHeaders(response, null);

  let setCookie: string | null = null;
  const ending = state.data.size === 0 ||
    (state.modified && absoluteDeadline(state, state.stored) <= state.now);
  if (ending) {
    if (state.key !== null) await config.store.delete(state.key);
    if (context.cookieSent) setCookie = clearingCookie(context, request);
  } else if (state.modified || config.saveEveryRequest) {
    if (await save(state)) setCookie = sessionCookie(context, state, request);
  } else {
    if (isTouchDue(state)) await touch(state);
    if (context.resign) setCookie = sessionCookie(context, state, request);
  }
  return addHeaders(response, setCookie);
}

/** The record this request writes, on top of `base` (the latest stored). */
function buildRecord(
  state: SessionState,
  base: StoredSession | null,
): SessionRecord {
  const { config, now } = state;
  let data: SessionData;
  if (base === state.stored || state.cleared) {
    data = Object.fromEntries(state.data);
  } else {
    // Another request wrote since this one loaded: keep its data and apply
    // only what this request changed.
    data = { ...base!.record.data };
    for (const [key, value] of state.changes ?? []) {
      if (value === undefined) delete data[key];
      else data[key] = value as JsonValue;
    }
  }
  const absoluteExpiresAt = absoluteDeadline(state, base);
  return {
    data,
    createdAt: base?.record.createdAt ?? now,
    lastActiveAt: now,
    absoluteExpiresAt,
    expiresAt: config.idleTimeoutMs === null
      ? absoluteExpiresAt
      : Math.min(absoluteExpiresAt, now + config.idleTimeoutMs),
    browserSession: isBrowserSession(state, base),
  };
}

/**
 * Writes the session with a conditional write; on a conflict re-reads the
 * latest record, merges this request's changes onto it and tries again.
 * Resolves to false when the stored session was deleted or expired meanwhile
 * (a logout elsewhere): it is not brought back.
 */
async function save(state: SessionState): Promise<boolean> {
  const { store } = state.config;
  let base = state.stored;
  const sourceKey = state.key;
  let id = state.id;
  let targetKey = sourceKey;
  if (sourceKey === null) {
    id = generateId();
    targetKey = storeKey(id);
  } else if (state.rotating) {
    targetKey = storeKey(id!);
  }
  const replaces = targetKey !== sourceKey ? sourceKey ?? undefined : undefined;
  for (let attempt = 1;; attempt++) {
    const record = buildRecord(state, base);
    const version = await store.set(targetKey!, record, {
      version: base?.version ?? null,
      replaces,
    });
    if (version !== null) {
      state.id = id;
      state.key = targetKey;
      state.stored = { record, version };
      state.rotating = false;
      return true;
    }
    if (base === null) {
      throw new Error(
        "Session store refused to create a record under a fresh key: is its set() conditional on the version?",
      );
    }
    if (attempt === SAVE_ATTEMPTS) {
      throw new Error(
        `Session not saved: ${SAVE_ATTEMPTS} attempts each lost a race with another request writing the same session`,
      );
    }
    const latest = await store.get(sourceKey!);
    if (latest === null || isExpired(state.config, latest.record, state.now)) {
      return false;
    }
    base = latest;
  }
}

/**
 * Refreshes the idle deadline of a session read but not changed. If another
 * request wrote meanwhile, its write refreshed the deadline already, and this
 * one gives way rather than overwrite it.
 */
async function touch(state: SessionState): Promise<void> {
  const stored = state.stored!;
  const record = buildRecord(state, stored);
  const version = await state.config.store.set(state.key!, record, {
    version: stored.version,
  });
  if (version !== null) state.stored = { record, version };
}

function cookieAttributes(context: RequestContext, request: Request) {
  const { config } = context;
  return {
    path: config.path,
    domain: config.domain,
    httpOnly: config.httpOnly,
    secure: config.secure === "auto"
      ? request.url.startsWith("https:")
      : config.secure,
    sameSite: config.sameSite,
    partitioned: config.partitioned,
  };
}

function sessionCookie(
  context: RequestContext,
  state: SessionState,
  request: Request,
): string {
  const { config } = context;
  const record = state.stored!.record;
  const incoming = context.cookie;
  // The value that came in is still right if it was signed with the first
  // secret for this id: HMAC is deterministic, so no need to sign again.
  const value = config.signer === null
    ? state.id!
    : incoming !== null && !incoming.stale && incoming.id === state.id
    ? incoming.value
    : config.signer.sign(state.id!);
  const maxAge = record.browserSession ? undefined : Math.max(
    0,
    Math.ceil((record.absoluteExpiresAt - state.now) / 1000),
  );
  return serializeCookie(
    config.cookieName,
    value,
    { ...cookieAttributes(context, request), maxAge },
    state.now,
  );
}

function clearingCookie(context: RequestContext, request: Request): string {
  return serializeCookie(
    context.config.cookieName,
    "",
    { ...cookieAttributes(context, request), maxAge: 0 },
    0,
  );
}

/**
 * Adds `Vary: Cookie` and the Set-Cookie value, copying the response first
 * when its headers are immutable (`Response.redirect`, a `fetch` result).
 */
function addHeaders(response: Response, setCookie: string | null): Response {
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

function applyHeaders(headers: Headers, setCookie: string | null): void {
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
