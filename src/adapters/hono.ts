/**
 * Sessions for Hono: `app.use(session(options))`, then
 * `await c.var.session.load()` in a handler.
 *
 * @module
 */

import { SessionManager } from "../core.ts";
import type { SessionData } from "../json.ts";
import type { SessionOptions } from "../options.ts";
import type { LazySession } from "./lazy_session.ts";

/**
 * The `Variables` of a Hono app under {@linkcode session}: declare them on
 * the app, and `c.var.session` (or `c.get("session")`) is a
 * {@linkcode LazySession} of your data's type.
 *
 * @typeParam T The shape of the data, a `type` of JSON values.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { session, type SessionVariables } from "@denokit/session/hono";
 *
 * type Data = { user: string };
 * const app = new Hono<{ Variables: SessionVariables<Data> }>();
 * app.use(session());
 * app.get("/", async (c) => {
 *   const data = await c.var.session.load(); // a Session<Data>
 *   return c.text(data.get("user") ?? "stranger");
 * });
 * ```
 */
export type SessionVariables<T extends SessionData = SessionData> = {
  session: LazySession<T>;
};

/**
 * What the middleware uses of Hono's `Context`: this module imports nothing
 * from Hono, so that an app without Hono pays nothing for it.
 */
export type HonoContext = {
  /** The request; its `raw` Request is the one `getSession` finds the session by. */
  readonly req: { readonly raw: Request };
  /** The response, once the handlers below have answered. */
  get res(): Response;
  /**
   * Replaces the response. Set it to `undefined` first to replace it whole:
   * Hono otherwise merges the old one's headers into the new one.
   */
  set res(response: Response | undefined);
  /** What a handler threw, when Hono's `onError` turned it into the response. */
  readonly error: unknown;
  /** Sets a context variable. */
  set(key: "session", value: LazySession): void;
};

/** A Hono middleware, as `app.use` takes it. */
export type HonoMiddleware = (
  c: HonoContext,
  next: () => Promise<void>,
) => Promise<void>;

/**
 * Hono middleware: every request under it has a session, reached from the
 * Context as `await c.var.session.load()` (or `c.get("session")`), or with
 * `getSession(c.req.raw)` as under `withSession(app.fetch)`. The session is
 * read only when a handler asks for it: a route that never does (a 404, a
 * static file) costs no store I/O and gets its response untouched.
 *
 * Once the handlers below have answered, the response rules apply to
 * `c.res`: `Vary: Cookie`, the cookie, and the save, which is skipped for a
 * status of 500 or more and when a handler threw, also when `app.onError`
 * turned the error into a response. Works with `app.request(...)` in tests.
 * Throws a TypeError for invalid options.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { MemoryStore } from "@denokit/session";
 * import { session, type SessionVariables } from "@denokit/session/hono";
 *
 * using store = new MemoryStore();
 * const app = new Hono<{ Variables: SessionVariables<{ visits: number }> }>();
 * app.use(session({ store, idleTimeout: 1800 }));
 * app.get("/", async (c) => {
 *   const session = await c.var.session.load();
 *   const visits = (session.get("visits") ?? 0) + 1;
 *   session.set("visits", visits);
 *   return c.text(`You have been here ${visits} times`);
 * });
 *
 * const response = await app.request("/");
 * console.log(await response.text()); // You have been here 1 times
 * // Deno.serve(app.fetch);
 * ```
 */
export function session(options: SessionOptions = {}): HonoMiddleware {
  const sessions = new SessionManager(options);
  return async (c, next) => {
    const scope = sessions.begin(c.req.raw);
    c.set("session", scope);
    await next();
    if (!scope.started) return;
    const response = c.res;
    // A thrown error that onError answered saves nothing, as a 5xx would not.
    const committed = await scope.commit(
      response,
      c.error === undefined ? response.status : 500,
    );
    if (committed !== response) {
      c.res = undefined;
      c.res = committed;
    }
  };
}
