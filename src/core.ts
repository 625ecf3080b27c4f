/**
 * The request core that every adapter drives: `withSession`, the framework
 * middleware, or your own. A {@linkcode SessionManager} begins a request's
 * session without any I/O; the session loads when the handler first asks
 * for it, and {@linkcode RequestSession.commit} applies Django's response
 * rules to the response (see `rules.ts`), saving through the write protocol
 * (see `write.ts`).
 *
 * @module
 */

import { getCookieValues } from "./cookie.ts";
import { emit, sessionEvent } from "./events.ts";
import { isLive } from "./expiry.ts";
import { successorOf } from "./id.ts";
import { timed } from "./timeout.ts";
import { opensSession } from "./write.ts";
import { isEmptyData, type SessionData } from "./json.ts";
import { type Config, resolveOptions, type SessionOptions } from "./options.ts";
import {
  applyHeaders,
  responseHeaders,
  responseSave,
  type SessionHeaders,
  VARY_ONLY,
  withHeaders,
} from "./rules.ts";
import type { SessionRecord } from "./store.ts";
import {
  type HeldSession,
  type IncomingCookie,
  Session,
  type SessionState,
} from "./session.ts";

/**
 * Where a request's session lives: a property under a private symbol on the
 * Request itself, which is cheaper under load than a WeakMap keyed by it
 * (see bench/README.md). (Deno's own Request sets properties on itself
 * lazily, so a frozen Request is no more usable here than there.)
 */
const CONTEXT: unique symbol = Symbol("@denokit/session context");
type Carrier = Request & { [CONTEXT]?: RequestSession };

/**
 * Sessions for the requests of one app: the options, checked once, and the
 * store. `begin(req)` starts a request's session; `withSession` and the
 * framework middleware are thin wrappers over it.
 *
 * @example Driving the core by hand, as an adapter does
 * ```ts
 * import { getSession, SessionManager } from "@denokit/session";
 *
 * const sessions = new SessionManager({ idleTimeout: 1800 });
 * async function app(req: Request): Promise<Response> {
 *   const session = await getSession(req);
 *   session.set("seen", true);
 *   return new Response("ok");
 * }
 * const handler = async (req: Request) => {
 *   const scope = sessions.begin(req); // no I/O yet
 *   return await scope.commit(await app(req));
 * };
 * // Deno.serve(handler);
 * ```
 */
export class SessionManager {
  readonly #config: Config;

  /** Checks the options; throws a TypeError naming an invalid one. */
  constructor(options: SessionOptions = {}) {
    this.#config = resolveOptions(options);
  }

  /**
   * Begins the session of `request`, reading nothing yet; from now on
   * `getSession(request)` finds it. Pass the Request object the server
   * handed in (not a copy): the session is attached to it.
   */
  begin(request: Request): RequestSession {
    const scope = new RequestSession(this.#config, request);
    (request as Carrier)[CONTEXT] = scope;
    return scope;
  }
}

/**
 * One request's session as the core tracks it: loaded on the first
 * {@linkcode RequestSession.load}, saved by
 * {@linkcode RequestSession.commit}. Made by `SessionManager.begin`.
 */
export class RequestSession {
  readonly #config: Config;
  readonly #request: Request;
  #loading: Promise<Session> | null = null;
  #state: SessionState | null = null;

  /** Internal: made by `SessionManager.begin`. */
  constructor(config: Config, request: Request) {
    this.#config = config;
    this.#request = request;
  }

  /** Whether the session was asked for: if not, the response is left as it is. */
  get started(): boolean {
    return this.#loading !== null;
  }

  /**
   * The session, loaded on the first call (one store read) and the same
   * object on every later one. Rejects with the store's error when the
   * store fails, never with an empty session in its place.
   */
  load<T extends SessionData = SessionData>(): Promise<Session<T>> {
    this.#loading ??= this.#load();
    return this.#loading as Promise<unknown> as Promise<Session<T>>;
  }

  /**
   * Applies the response rules to `response`: saves the session (nothing on
   * a status of 500 or more), and resolves to the response with
   * `Vary: Cookie` and the session cookie added; a copy when its headers are
   * immutable (`Response.redirect`, a `fetch` result). A session never asked
   * for leaves `response` as it is. Rejects with a TypeError when `response`
   * is not a Response, and with the store's error when saving fails.
   *
   * `status` (default the response's) is the status the rules go by: an
   * adapter whose framework turned a thrown error into a response of any
   * status passes 500, so that nothing is saved, as when the error
   * propagates.
   */
  async commit(response: Response, status?: number): Promise<Response> {
    if (!(response instanceof Response)) {
      throw new TypeError(
        `commit(response): expected a Response, got ${describe(response)}`,
      );
    }
    if (this.#loading === null) return response;
    status ??= response.status;
    const state = this.#state;
    const config = this.#config;
    if (state === null) {
      return withHeaders(response, config, await this.#finish(status));
    }
    const saving = responseSave(state, status);
    if (saving !== null) await saving;
    return withHeaders(
      response,
      config,
      responseHeaders(state, status, this.#request),
    );
  }

  /**
   * The same rules for a framework whose response is not a Response yet:
   * saves as a response of `status` requires, and adds the session's headers
   * to `headers`, which must be mutable: a `Headers`, or any object with its
   * `get`, `set` and `append` (npm's Oak hands out undici's).
   */
  async commitHeaders(
    status: number,
    headers: Pick<Headers, "get" | "set" | "append">,
  ): Promise<void> {
    if (this.#loading === null) return;
    applyHeaders(headers, this.#config, await this.#finish(status));
  }

  /** Saves as a response of `status` requires; what the response carries. */
  async #finish(status: number): Promise<SessionHeaders> {
    let state = this.#state;
    if (state === null) {
      // Still loading (the handler did not wait for it), or it failed.
      try {
        await this.#loading;
      } catch {
        // The handler saw the store fail and answered anyway: nothing to save.
        return VARY_ONLY;
      }
      state = this.#state;
      if (state === null) return VARY_ONLY;
    }
    const saving = responseSave(state, status);
    if (saving !== null) await saving;
    return responseHeaders(state, status, this.#request);
  }

  /**
   * The session a forwarding record of a rotation leads to, if its grace
   * still runs and `id` (the old one) opens its successor.
   */
  async #successor(
    id: string,
    forward: SessionRecord,
    now: number,
  ): Promise<HeldSession | null> {
    const config = this.#config;
    const successor = successorOf(id, forward, now);
    if (successor === null) return null;
    const stored = await timed(config, config.store.get(successor.key), "get");
    if (
      stored === null || !opensSession(stored.record) ||
      !isLive(config, stored.record, now)
    ) return null;
    return { ...successor, stored, rotatedAway: false };
  }

  async #load(): Promise<Session> {
    const config = this.#config;
    const now = config.now();
    const request = this.#request;
    // With the header transport, a client that sends the header (empty
    // while it has no session) is answered in it; its value goes first.
    const sent = config.header === null
      ? null
      : request.headers.get(config.header);
    const values = sent === null
      ? cookieValues(config, request)
      : [sent.trim(), ...cookieValues(config, request)];
    // Sent but opening no session: cleared (an empty header is no value).
    let cookie: IncomingCookie = values.length > (sent?.trim() === "" ? 1 : 0)
      ? "invalid"
      : null;
    let held: HeldSession | null = null;
    let wasExpired = false;
    let rotatedTo = false;
    // Cookie tossing: a value planted before the real one (by a sibling
    // subdomain) must not log the user out, so the well-formed values are
    // tried in the browser's order, the first live session winning; a
    // bounded number of store reads keeps a flood of them cheap.
    let reads = 0;
    // Which value opened the session: with the header transport, the
    // header's is the first.
    let opener = -1;
    const { sealer } = config;
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (sealer !== null) {
        // The session is in the value itself.
        const opened = sealer.open(value, config.cookieName);
        if (opened === null) continue;
        const { id, key, record } = opened;
        if (isLive(config, record, now)) {
          // Sealed with an older secret: sealed afresh, to be sent.
          const version = opened.stale
            ? sealer.seal(id, key, record, config.cookieName)
            : value;
          held = { id, key, stored: { record, version }, rotatedAway: false };
          cookie = { value, id, key, stale: opened.stale, remembered: false };
          opener = i;
          break;
        }
        wasExpired ||= !isEmptyData(record.data);
        continue;
      }
      const verified = config.cookies.verify(value);
      if (verified === null) continue;
      if (reads++ === MAX_STORE_READS) break;
      const stored = await timed(
        config,
        config.store.get(verified.key),
        "get",
      );
      if (stored !== null && stored.record.movedTo !== undefined) {
        // Rotated away: during the rotation's grace the old id opens the
        // rotated session, and the response sends the new cookie.
        held = await this.#successor(verified.id, stored.record, now);
        if (held !== null) {
          cookie = verified;
          rotatedTo = true;
          opener = i;
          break;
        }
      } else if (stored !== null) {
        // What an ending session leaves (no data) opens nothing.
        if (isLive(config, stored.record, now)) {
          held = {
            id: verified.id,
            key: verified.key,
            stored,
            rotatedAway: false,
          };
          cookie = verified;
          config.cookies.remember(verified);
          opener = i;
          break;
        }
        if (!isEmptyData(stored.record.data)) {
          wasExpired = true;
          await config.writer.submit(verified.key, {
            kind: "expire",
            config,
            now,
            loaded: stored,
          });
          emit(
            config.onEvent,
            () =>
              sessionEvent("expired", now, verified.key, stored.record.user),
          );
        }
      }
      config.cookies.forget(verified);
    }
    const state: SessionState = {
      config,
      now,
      cookie,
      held,
      data: held === null ? {} : held.stored.record.data,
      edits: null,
      failedSave: null,
      modified: false,
      merged: false,
      isNew: held === null,
      wasExpired: held === null && wasExpired,
      cookieAction: rotatedTo ? "send" : null,
      // A session the cookie opened is answered in the cookie, whatever the
      // header held: otherwise any script of the page could read an
      // HttpOnly cookie's id from the answer by sending the header.
      transport: sent === null || opener > 0 ? "cookie" : "header",
    };
    this.#state = state;
    return new Session(state);
  }
}

/** Session cookie values of a request tried against the store, at most. */
export const MAX_STORE_READS = 3;

const NO_VALUES: string[] = [];

/** The values of the session cookie in a request, in the browser's order. */
function cookieValues(config: Config, request: Request): string[] {
  const header = request.headers.get("cookie");
  return header === null
    ? NO_VALUES
    : getCookieValues(header, config.cookieName);
}

/** A value as an error message names it. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value !== "object") return `a ${typeof value}`;
  const candidate = value as Partial<Response>;
  if (
    typeof candidate.status === "number" && "headers" in candidate &&
    "body" in candidate
  ) {
    // npm's Oak and other fetch shims answer with Responses of their own.
    return "a Response of another implementation than Deno's (wrap it: new Response(r.body, r))";
  }
  const name = Object.getPrototypeOf(value)?.constructor?.name;
  if (name === undefined || name === "Object") return "a plain object";
  return /^[AEIO]/.test(name) ? `an ${name}` : `a ${name}`;
}

/**
 * The session of a request begun by {@linkcode SessionManager.begin} (which
 * `withSession` and the framework middleware call), loaded on the first call
 * and the same object on every later one. Rejects with a TypeError for any
 * other request, and with the store's error when the store fails (never an
 * empty session in its place).
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
  const scope = (req as Carrier)[CONTEXT];
  if (scope === undefined) {
    return Promise.reject(
      new TypeError(
        "getSession(req): this request did not pass through withSession(handler) or a session middleware; wrap the handler given to Deno.serve (or app.use(session()) from @denokit/session/hono or /oak), and pass the same Request object. A test calls the wrapped handler (callHandler from @denokit/session/testing), not the app inside it (such as Hono's app.request)",
      ),
    );
  }
  return scope.load<T>();
}
