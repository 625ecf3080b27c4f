// The Fresh 2 recipe (examples/fresh.ts, shown in README) through a
// stand-in for Fresh: jsr:@fresh/core cannot be fetched here. The stand-in
// keeps what the recipe relies on, as Fresh 2.3's app.ts, context.ts,
// segments.ts and middlewares/mod.ts do it: ctx.req is the server's Request,
// ctx.next() runs the rest of the chain, a middleware that throws sets
// ctx.error, the routes' segment answers a thrown error with an error page
// (an HttpError's status, else 500), and app.handler() has the signature
// (request, info?) => Promise<Response>.

import assert from "node:assert/strict";
import { withSession } from "../mod.ts";
import { callHandler } from "../testing.ts";
import { handler, session } from "../examples/fresh.ts";
import { cookieOf, SpyStore } from "./helpers.ts";

/** Fresh's HttpError: its status is the error page's. */
class HttpError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

/** The members of Fresh's Context the recipe and the stand-in use, typed as Fresh types them. */
class Context<State> {
  readonly url: URL;
  readonly state: State = {} as State;
  error: unknown | null = null;
  next: () => Promise<Response> = () => Promise.reject(new HttpError(404));
  constructor(readonly req: Request, readonly info?: Deno.ServeHandlerInfo) {
    this.url = new URL(req.url);
  }
}

/** Fresh's Middleware type: what app.use takes and a route handler is. */
type Middleware<State> = (ctx: Context<State>) => Response | Promise<Response>;

/** Fresh's compileMiddlewares: each step's ctx.next() runs the rest; a throw sets ctx.error. */
function compile<State>(steps: Middleware<State>[]): Middleware<State> {
  return steps.reduceRight<Middleware<State>>(
    (rest, step) => async (ctx) => {
      ctx.next = () => Promise.resolve(rest(ctx));
      try {
        return await step(ctx);
      } catch (error) {
        ctx.error = error;
        throw error;
      }
    },
    () => Promise.reject(new HttpError(404)),
  );
}

/** Fresh's App, reduced: app.use, the routes' _middleware.ts, GET routes, handler(). */
class App<State> {
  readonly #middlewares: Middleware<State>[] = [];
  readonly #routeMiddlewares: Middleware<State>[] = [];
  readonly #routes = new Map<string, Middleware<State>>();

  use(middleware: Middleware<State>): this {
    this.#middlewares.push(middleware);
    return this;
  }

  /** What routes/_middleware.ts exports: it runs inside the routes' segment. */
  routeMiddleware(middleware: Middleware<State>): this {
    this.#routeMiddlewares.push(middleware);
    return this;
  }

  get(path: string, route: Middleware<State>): this {
    this.#routes.set(path, route);
    return this;
  }

  handler(): (
    request: Request,
    info?: Deno.ServeHandlerInfo,
  ) => Promise<Response> {
    // The segment of routes/: a thrown error becomes its error page.
    const segment: Middleware<State> = async (ctx) => {
      try {
        return await ctx.next();
      } catch (error) {
        const status = error instanceof HttpError ? error.status : 500;
        return new Response(`error page ${status}`, { status });
      }
    };
    const route: Middleware<State> = (ctx) => {
      const found = this.#routes.get(ctx.url.pathname);
      if (found === undefined) throw new HttpError(404);
      return found(ctx);
    };
    const chain = compile([
      ...this.#middlewares,
      segment,
      ...this.#routeMiddlewares,
      route,
    ]);
    return async (request, info) => await chain(new Context(request, info));
  }
}

const PLACES = [
  ["app.use(session(...)) in main.ts", "use"],
  ["export default session(...) in routes/_middleware.ts", "routeMiddleware"],
] as const;

/** The recipe's app in one of its two places, on a SpyStore; /fail throws `error`. */
function recipeApp(place: "use" | "routeMiddleware", error: unknown = null) {
  const store = new SpyStore();
  const middleware: Middleware<unknown> = session({ store });
  const app = new App<unknown>()[place](middleware)
    .get("/", handler.GET)
    .get("/fail", async (ctx) => {
      await handler.GET(ctx); // changes the session, then fails
      throw error;
    })
    .get("/static", () => new Response("file"));
  return { store, fetch: app.handler() };
}

Deno.test("Fresh recipe: a route reads the session through getSession(ctx.req), wherever the middleware is", async (t) => {
  for (const [name, place] of PLACES) {
    await t.step(name, async () => {
      const { fetch } = recipeApp(place);
      const first = await fetch(new Request("http://localhost/"));
      assert.equal(await first.text(), "You have been here 1 times");
      assert.equal(first.headers.get("vary"), "Cookie");
      const second = await fetch(
        new Request("http://localhost/", {
          headers: { cookie: cookieOf(first) },
        }),
      );
      assert.equal(await second.text(), "You have been here 2 times");
    });
  }
});

Deno.test("Fresh recipe: a route that never asks costs no store I/O and its response is untouched", async () => {
  const { store, fetch } = recipeApp("use");
  const response = await fetch(new Request("http://localhost/static"));
  assert.equal(await response.text(), "file");
  assert.equal(response.headers.get("vary"), null);
  assert.equal(store.gets + store.sets, 0);
});

Deno.test("Fresh recipe: a route that throws saves nothing, whatever status Fresh's error page has", async (t) => {
  for (const [name, place] of PLACES) {
    for (
      const [what, error, status] of [
        ["an Error", new Error("boom"), 500],
        ["an HttpError(404)", new HttpError(404), 404],
      ] as const
    ) {
      await t.step(`${name}: ${what}`, async () => {
        const { store, fetch } = recipeApp(place, error);
        const first = await fetch(new Request("http://localhost/"));
        await first.body?.cancel();
        const before = await store.only();
        const failed = await fetch(
          new Request("http://localhost/fail", {
            headers: { cookie: cookieOf(first) },
          }),
        );
        assert.equal(await failed.text(), `error page ${status}`);
        assert.equal(failed.headers.get("set-cookie"), null);
        assert.deepEqual(await store.only(), before, "the session as it was");
      });
    }
  }
});

Deno.test("Fresh: the entry a deno serve app exports, { fetch: withSession(app.handler()) }, needs no middleware", async () => {
  const app = new App<unknown>().get("/", handler.GET);
  const entry = {
    fetch: withSession(app.handler(), { store: new SpyStore() }),
  } satisfies Deno.ServeDefaultExport;
  const first = await callHandler(entry.fetch, "/");
  assert.equal(await first.text(), "You have been here 1 times");
  const second = await callHandler(entry.fetch, "/", {
    headers: { cookie: cookieOf(first) },
  });
  assert.equal(await second.text(), "You have been here 2 times");
});

Deno.test("README's Fresh block is examples/fresh.ts as tested here", async () => {
  const readme = await Deno.readTextFile(
    new URL("../README.md", import.meta.url),
  );
  const example = await Deno.readTextFile(
    new URL("../examples/fresh.ts", import.meta.url),
  );
  const code = example.slice(example.indexOf("import {"));
  const section = readme.slice(readme.indexOf("### Fresh"));
  const block = section.slice(
    section.indexOf("```ts\n") + "```ts\n".length,
    section.indexOf("```\n", section.indexOf("```ts\n") + 6),
  );
  assert.equal(block, code);
});
