/**
 * `withSession`: the core as a wrapper around a `Deno.serve` handler.
 *
 * @module
 */

import { describe, SessionManager } from "./core.ts";
import type { SessionOptions } from "./options.ts";

/**
 * Wraps a `Deno.serve` handler so that it can call `getSession(req)`; the
 * session is saved when the handler's response is ready. The signature
 * stays `(req, info)`, so it wraps a plain handler or Hono's `app.fetch`
 * alike. Throws a TypeError for invalid options; the wrapped handler rejects
 * with a TypeError when the handler answers with something other than a
 * Response.
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
  const sessions = new SessionManager(options);
  return async (request, info) => {
    const scope = sessions.begin(request);
    const response = await handler(request, info);
    if (!(response instanceof Response)) {
      throw new TypeError(
        `withSession: the handler returned ${
          describe(response)
        } instead of a Response; every path must return (or resolve to) a Response`,
      );
    }
    if (!scope.started) return response;
    return await scope.commit(response);
  };
}
