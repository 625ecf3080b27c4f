/**
 * The session as a framework adapter hands it to handlers: not read until
 * asked for.
 *
 * @module
 */

import type { SessionData } from "../json.ts";
import type { Session } from "../session.ts";

/**
 * A request's session, not read yet: `load()` reads it on the first call
 * (one store read) and returns the same object on every later one, as
 * `getSession(req)` does. A handler that never calls it costs no store I/O
 * and leaves the response untouched. The framework middleware
 * (`@denokit/session/hono`, `@denokit/session/oak`) put one in the context;
 * `SessionManager.begin` returns one.
 *
 * @typeParam T The shape of the data, a `type` of JSON values.
 *
 * @example
 * ```ts
 * import { SessionManager } from "@denokit/session";
 * import type { LazySession } from "@denokit/session/hono";
 *
 * const lazy: LazySession<{ visits: number }> = new SessionManager().begin(
 *   new Request("http://localhost/"),
 * );
 * const session = await lazy.load(); // the store is read here, once
 * session.set("visits", (session.get("visits") ?? 0) + 1);
 * ```
 */
export interface LazySession<T extends SessionData = SessionData> {
  /** The session: read from the store on the first call, the same object on every later one. */
  load(): Promise<Session<T>>;
}
