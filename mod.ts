/**
 * Server-side sessions for `Deno.serve`, the way Django gives them:
 * `getSession(req)` is `request.session`. Absolute and idle timeouts, signed
 * cookies, no lost updates between concurrent requests, per-user sessions
 * ("log out everywhere"), and stores for memory, Deno KV, files and the cookie
 * itself behind one small interface (Redis in `@denokit/session/redis`;
 * Hono and Oak middleware in `./hono` and `./oak`).
 *
 * @example
 * ```ts
 * import { getSession, withSession } from "@denokit/session";
 *
 * const handler = withSession(async (req) => {
 *   const session = await getSession(req);
 *   if (new URL(req.url).pathname === "/set") {
 *     session.set("sname", "Ram");
 *     return new Response("User session is set");
 *   }
 *   const name = session.get("sname");
 *   return new Response(name ? `Welcome ${name}` : "No session yet: visit /set");
 * }, { idleTimeout: 30 * 60 });
 * // Deno.serve(handler);
 * ```
 *
 * @module
 */

export { withSession } from "./src/middleware.ts";
export { getSession, RequestSession, SessionManager } from "./src/core.ts";
export { Session } from "./src/session.ts";
export {
  endUserSessions,
  listUserSessions,
  type UserSession,
  type UserSessionsOptions,
} from "./src/users.ts";
export type { SessionEvent } from "./src/events.ts";
export { SessionTooLargeError } from "./src/record.ts";
export type { JsonValue, SessionData } from "./src/json.ts";
export type { CookieOptions, SessionOptions } from "./src/options.ts";
export type {
  SessionRecord,
  SessionStore,
  StoredSession,
  UserIndex,
  UserSessionEntry,
  WriteCondition,
} from "./src/store.ts";
export { MemoryStore, type MemoryStoreOptions } from "./src/stores/memory.ts";
export { KvStore, type KvStoreOptions, openKv } from "./src/stores/kv.ts";
export {
  type ClearExpiredOptions,
  FileStore,
  type FileStoreOptions,
} from "./src/stores/file.ts";
export { CookieStore, type CookieStoreOptions } from "./src/stores/cookie.ts";
