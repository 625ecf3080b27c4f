/**
 * The example server written with Hono and `@denokit/session/hono`: the
 * same routes, page and flags as examples/server.ts.
 *
 *   deno run --allow-net=127.0.0.1 --allow-read=./sessions.kv \
 *     --allow-write=./sessions.kv --allow-env examples/hono.ts [--idle 30 ...]
 *
 * (Hono reads a few environment variables; the flags are examples/server.ts's.)
 *
 * @module
 */

import { Hono } from "hono";
import { getSession, type SessionOptions, type SessionStore } from "../mod.ts";
import { session, type SessionVariables } from "../hono.ts";
import { type Data, greeting, logIn } from "./page.ts";
import {
  listen,
  logOutOthers,
  openStore,
  pageOf,
  parseFlags,
  run,
  sessionOptions,
} from "./server.ts";

/** The example's routes as a Hono app under `session(options)`. */
export function honoApp(
  options: SessionOptions & { store: SessionStore },
): Hono<{
  Variables: SessionVariables<Data>;
}> {
  const { store } = options;
  const app = new Hono<{ Variables: SessionVariables<Data> }>();
  app.use(session(options));
  app.get("/set", async (c) => {
    // Any keys at all: the untyped session, found from the Request.
    const session = await getSession(c.req.raw);
    const pairs = Object.entries(c.req.query());
    if (pairs.length === 0) pairs.push(["sname", "Ram"]);
    for (const [key, value] of pairs) session.set(key, value);
    return c.text("User session is set\n");
  });
  app.get("/get", async (c) => c.text(greeting(await c.var.session.load())));
  app.get("/data", async (c) => {
    const session = await c.var.session.load();
    return c.json(Object.fromEntries(session.entries()));
  });
  app.post("/login", async (c) => {
    // A body that is not a form counts as a missing username.
    const form = await c.req.parseBody().catch(() => null);
    const username = String(form?.username ?? "").trim();
    const session = await c.var.session.load();
    const problem = await logIn(session, username);
    if (problem === null) return c.redirect("/", 303);
    return username === ""
      ? c.text(problem, 400)
      : c.html(await pageOf(store, session, { error: problem }), 400);
  });
  app.get("/login", async (c) => {
    const session = await c.var.session.load();
    if (session.has("user")) return c.redirect("/", 303);
    return c.html(await pageOf(store, session, {}));
  });
  app.post("/logout", async (c) => {
    await (await c.var.session.load()).flush();
    return c.redirect("/", 303);
  });
  app.post("/logout-others", async (c) => {
    await logOutOthers(store, await c.var.session.load());
    return c.redirect("/", 303);
  });
  app.get(
    "/",
    async (c) => c.html(await pageOf(store, await c.var.session.load())),
  );
  app.notFound((c) => c.text("Not found\n", 404));
  return app;
}

if (import.meta.main) {
  await run("examples/hono.ts", async () => {
    const flags = parseFlags(Deno.args);
    const store = await openStore(flags);
    listen(flags, honoApp(sessionOptions(flags, store)).fetch);
  });
}
