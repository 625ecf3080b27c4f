/**
 * Calling a `Deno.serve` handler in a unit test, without a server.
 *
 * @module
 */

import { describe } from "./core.ts";

/**
 * Calls `handler` as `Deno.serve` would, without a server: for unit tests
 * of a handler wrapped in `withSession` (Hono's `app.fetch` under it
 * included), which needs the `info` argument no test should invent.
 * `input` is a Request, a URL, or a path such as `"/login?next=/"` (on
 * `http://localhost`, as Hono's `app.request` takes it), with `init` as
 * `fetch` takes it. The handler gets a `Deno.ServeHandlerInfo` of a client
 * at 127.0.0.1 whose `completed` resolves once the handler has answered.
 * Rejects with a TypeError, as `Deno.serve` refuses it, when the handler
 * answers with something other than a Response.
 *
 * @example
 * ```ts
 * import { getSession, MemoryStore, withSession } from "@denokit/session";
 * import { callHandler } from "@denokit/session/testing";
 *
 * using store = new MemoryStore();
 * const handler = withSession(async (req) => {
 *   const session = await getSession(req);
 *   session.set("user", "ram");
 *   return new Response("hello");
 * }, { store });
 * const response = await callHandler(handler, "/");
 * console.log(await response.text()); // hello
 * console.log(response.headers.get("set-cookie")); // sessionid=...
 * ```
 */
export async function callHandler(
  handler: Deno.ServeHandler<Deno.NetAddr>,
  input: Request | URL | string,
  init?: RequestInit,
): Promise<Response> {
  const request = input instanceof Request
    ? (init === undefined ? input : new Request(input, init))
    : new Request(
      typeof input === "string" && input.startsWith("/")
        ? `http://localhost${input}`
        : input,
      init,
    );
  const { promise: completed, resolve: answered } = Promise.withResolvers<
    void
  >();
  try {
    const response = await handler(request, {
      remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 49152 },
      completed,
    });
    if (!(response instanceof Response)) {
      throw new TypeError(
        `callHandler: the handler returned ${
          describe(response)
        } instead of a Response, which Deno.serve refuses`,
      );
    }
    return response;
  } finally {
    answered();
  }
}
