/**
 * Sessions for [Hono](https://hono.dev): a middleware whose session handlers
 * reach from the Context, typed through the app's `Variables`, and read only
 * when they ask for it. No runtime import of Hono.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { session, type SessionVariables } from "@denokit/session/hono";
 *
 * const app = new Hono<{ Variables: SessionVariables<{ user: string }> }>();
 * app.use(session({ idleTimeout: 1800 }));
 * app.post("/login", async (c) => {
 *   const session = await c.var.session.load();
 *   await session.rotate();
 *   session.set("user", "ram");
 *   return c.redirect("/");
 * });
 * // Deno.serve(app.fetch);
 * ```
 *
 * @module
 */

export {
  type HonoContext,
  type HonoMiddleware,
  session,
  type SessionVariables,
} from "./src/adapters/hono.ts";
export type { LazySession } from "./src/adapters/lazy_session.ts";
