/**
 * Sessions for [Oak](https://oakserver.org): a middleware whose session
 * middleware below it reach from `ctx.state`, typed through the app's state,
 * and read only when they ask for it; and {@linkcode serveHandler}, to run
 * the app under `Deno.serve`. No runtime import of Oak.
 *
 * @example
 * ```ts
 * import { Application } from "@oakserver/oak";
 * import { session, type SessionState } from "@denokit/session/oak";
 *
 * const app = new Application<SessionState<{ user: string }>>();
 * app.use(session({ idleTimeout: 1800 }));
 * app.use(async (ctx) => {
 *   const session = await ctx.state.session.load();
 *   ctx.response.body = `Hello ${session.get("user") ?? "stranger"}`;
 * });
 * // await app.listen({ hostname: "127.0.0.1", port: 8000 });
 * ```
 *
 * @module
 */

export {
  type OakApplication,
  type OakContext,
  type OakMiddleware,
  type OakResponse,
  serveHandler,
  session,
  type SessionState,
} from "./src/adapters/oak.ts";
export type { LazySession } from "./src/adapters/lazy_session.ts";
