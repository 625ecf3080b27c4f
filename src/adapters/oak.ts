/**
 * Sessions for Oak: `app.use(session(options))`, then
 * `await ctx.state.session.load()` in a middleware below it.
 *
 * @module
 */

import { SessionManager } from "../core.ts";
import type { SessionData } from "../json.ts";
import type { SessionOptions } from "../options.ts";
import type { LazySession } from "./lazy_session.ts";

/**
 * The state of an Oak app under {@linkcode session}: give it to the
 * `Application`, and `ctx.state.session` is a {@linkcode LazySession} of
 * your data's type.
 *
 * @typeParam T The shape of the data, a `type` of JSON values.
 *
 * @example
 * ```ts
 * import { Application } from "@oakserver/oak";
 * import { session, type SessionState } from "@denokit/session/oak";
 *
 * type Data = { user: string };
 * const app = new Application<SessionState<Data>>();
 * app.use(session());
 * app.use(async (ctx) => {
 *   const data = await ctx.state.session.load(); // a Session<Data>
 *   ctx.response.body = data.get("user") ?? "stranger";
 * });
 * ```
 */
export type SessionState<T extends SessionData = SessionData> = {
  session: LazySession<T>;
};

/**
 * What the middleware uses of Oak's `Context`: this module imports nothing
 * from Oak, so that an app without Oak pays nothing for it.
 */
export interface OakContext<T extends SessionData = SessionData> {
  /** The application, whose `state` must not be the request's (see {@linkcode session}). */
  readonly app: { readonly state: unknown };
  /** The request: the native Request when the server gave one (`Deno.serve`). */
  readonly request: {
    readonly source?: unknown;
    readonly url: URL;
    readonly headers: { get(name: string): string | null };
  };
  /** The response being built; its headers are still mutable. */
  readonly response: {
    readonly status: number;
    readonly headers: Pick<Headers, "get" | "set" | "append">;
  };
  /** The request's state, where the session goes. */
  state: SessionState<T>;
}

/** An Oak middleware, as `app.use` takes it. */
export type OakMiddleware<T extends SessionData = SessionData> = (
  ctx: OakContext<T>,
  next: () => Promise<unknown>,
) => Promise<void>;

/**
 * Oak middleware: every request under it has a session, reached as
 * `await ctx.state.session.load()`, and also with
 * `getSession(ctx.request.source)` when the server hands Oak a native
 * Request (`Deno.serve`). The session is read only when a middleware asks
 * for it: one that never does costs no store I/O and leaves the response
 * untouched. Works under `app.listen()` and under `Deno.serve` (see
 * {@linkcode serveHandler}).
 *
 * Once the middleware below it has run, the response rules apply to
 * `ctx.response`: `Vary: Cookie`, the cookie, and the save, which is skipped
 * for a status of 500 or more; when a middleware throws (`ctx.throw(...)`
 * included), nothing is saved and the error goes on to Oak. Throws a
 * TypeError for invalid options, and a request fails with a TypeError under
 * `contextState: "alias"`, where every request would share one
 * `ctx.state` and so one session.
 *
 * @example
 * ```ts
 * import { Application } from "@oakserver/oak";
 * import { session, type SessionState } from "@denokit/session/oak";
 *
 * const app = new Application<SessionState<{ visits: number }>>();
 * app.use(session({ idleTimeout: 1800 }));
 * app.use(async (ctx) => {
 *   const session = await ctx.state.session.load();
 *   const visits = (session.get("visits") ?? 0) + 1;
 *   session.set("visits", visits);
 *   ctx.response.body = `You have been here ${visits} times`;
 * });
 * // await app.listen({ hostname: "127.0.0.1", port: 8000 });
 * ```
 */
export function session<T extends SessionData = SessionData>(
  options: SessionOptions = {},
): OakMiddleware<T> {
  const sessions = new SessionManager(options);
  const carried = options.header === undefined
    ? CARRIED
    : [...CARRIED, options.header];
  return async (ctx, next) => {
    if (ctx.state === ctx.app.state) {
      throw new TypeError(
        'session(): the Application shares one ctx.state between requests (contextState: "alias"), so they would share one session; use the default contextState ("clone"), "prototype" or "empty"',
      );
    }
    const scope = sessions.begin(carrier(ctx.request, carried));
    ctx.state.session = scope;
    await next();
    await scope.commitHeaders(ctx.response.status, ctx.response.headers);
  };
}

/**
 * The request headers the core reads: the Cookie header, the proxy's (for
 * `trustProxy`), and the session header of the `header` option, if any.
 */
const CARRIED = ["cookie", "forwarded", "x-forwarded-proto"];

/**
 * The Request the session is attached to: the server's own when Oak has one
 * (so that `getSession(ctx.request.source)` finds it), else one that carries
 * what the core reads of a request, its URL and the headers `names` (Oak's
 * Node server, which npm's Oak uses on Deno under `app.listen()`, has none).
 */
function carrier(
  request: OakContext["request"],
  names: readonly string[],
): Request {
  if (request.source instanceof Request) return request.source;
  const headers = new Headers();
  for (const name of names) {
    const value = request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  return new Request(request.url, { headers });
}

/** What {@linkcode serveHandler} uses of an Oak `Application`. */
export interface OakApplication {
  /**
   * Oak's `app.handle(request, remoteAddr)`. The request is typed `never`:
   * npm's Oak declares undici's Request type for it, though it takes Deno's.
   */
  handle(
    request: never,
    remoteAddr: Deno.NetAddr | undefined,
  ): Promise<OakResponse | undefined>;
}

/** A Response as Oak answers it: npm's Oak answers with undici's, not Deno's. */
export interface OakResponse {
  /** The body. */
  readonly body: ReadableStream<Uint8Array> | null;
  /** The status. */
  readonly status: number;
  /** The status text. */
  readonly statusText: string;
  /** The header fields. */
  readonly headers: Iterable<[string, string]>;
}

/**
 * An Oak `Application` as a `Deno.serve` handler:
 * `Deno.serve(serveHandler(app))`, or `export default { fetch:
 * serveHandler(app) }` for `deno serve`. It passes Oak the remote address
 * it asserts it gets (not Deno's whole `info`), and answers with a Response of
 * Deno's own (npm's Oak answers with undici's, which `Deno.serve` refuses).
 * Rejects with a TypeError when Oak gives no response (`ctx.respond =
 * false`): under `Deno.serve`, every request must be answered.
 *
 * @example
 * ```ts
 * import { Application } from "@oakserver/oak";
 * import { serveHandler, session } from "@denokit/session/oak";
 *
 * const app = new Application();
 * app.use(session());
 * app.use((ctx) => {
 *   ctx.response.body = "hello";
 * });
 * // Deno.serve({ hostname: "127.0.0.1", port: 8000 }, serveHandler(app));
 * ```
 */
export function serveHandler(app: OakApplication): Deno.ServeHandler {
  return async (request, { remoteAddr }) => {
    // Oak asserts a network address or none (a Unix socket has none).
    const response = await app.handle(
      request as never,
      remoteAddr.transport === "tcp" || remoteAddr.transport === "udp"
        ? remoteAddr
        : undefined,
    );
    if (response === undefined) {
      throw new TypeError(
        "serveHandler: Oak gave no response (ctx.respond = false); under Deno.serve every request needs one",
      );
    }
    if (response instanceof Response) return response;
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers: [...response.headers],
    });
  };
}
