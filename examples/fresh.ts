/**
 * Sessions in a Fresh 2 app: a middleware and a route that reads the
 * session, as README shows them. Fresh itself (`jsr:@fresh/core`) cannot be
 * fetched where this repository is tested, so tests/fresh_test.ts runs this
 * file through a stand-in with Fresh's middleware and handler signatures.
 *
 * @module
 */

import {
  getSession,
  SessionManager,
  type SessionOptions,
} from "@denokit/session";

// main.ts: app.use(session({ idleTimeout: 1800 })), before app.fsRoutes();
// or routes/_middleware.ts: export default session({ idleTimeout: 1800 });
export function session(options: SessionOptions = {}) {
  const sessions = new SessionManager(options);
  return async (ctx: {
    req: Request;
    error: unknown;
    next(): Promise<Response>;
  }): Promise<Response> => {
    const scope = sessions.begin(ctx.req);
    const response = await ctx.next();
    // Fresh answers a thrown error with its error page and sets ctx.error:
    // then nothing is saved, whatever the page's status.
    return await scope.commit(response, ctx.error === null ? undefined : 500);
  };
}

// routes/index.tsx
export const handler = {
  async GET(ctx: { req: Request }): Promise<Response> {
    const session = await getSession<{ visits: number }>(ctx.req);
    const visits = (session.get("visits") ?? 0) + 1;
    session.set("visits", visits);
    return new Response(`You have been here ${visits} times`);
  },
};
