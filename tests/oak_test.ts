// The Oak middleware (src/adapters/oak.ts) against the real npm:@oakserver/oak
// (14.x), under Deno.serve through serveHandler, under app.listen(), and
// called without a server through callHandler.

import assert from "node:assert/strict";
import { Application } from "@oakserver/oak";
import { getSession, type SessionOptions } from "../mod.ts";
import { serveHandler, session, type SessionState } from "../oak.ts";
import { callHandler } from "../testing.ts";
import {
  cookieOf,
  freePort,
  parseSetCookie,
  SpyStore,
  untouchedRouteSteps,
} from "./helpers.ts";

type Data = { user: string; n: number };

/** An Oak app under session() on a SpyStore, and a call of it without a server. */
function oakApp(options: SessionOptions = {}) {
  const store = new SpyStore();
  const app = new Application<SessionState<Data>>({ logErrors: false });
  app.use(session({ store, ...options }));
  const handler = serveHandler(app);
  const call = (path: string, init?: RequestInit) =>
    callHandler(handler, path, init);
  return { store, app, call };
}

/** Counts visits in the session: the body is the count. */
function countVisits(app: Application<SessionState<Data>>) {
  app.use(async (ctx) => {
    const session = await ctx.state.session.load();
    const n = (session.get("n") ?? 0) + 1;
    session.set("n", n);
    ctx.response.body = String(n);
  });
}

Deno.test("Oak under Deno.serve(serveHandler(app)): ctx.state.session, typed; getSession(ctx.request.source) is the same session", async () => {
  const { app } = oakApp();
  app.use(async (ctx, next) => {
    const source = ctx.request.source;
    assert.ok(source instanceof Request, "Deno.serve's own Request");
    assert.equal(
      await getSession<Data>(source),
      await ctx.state.session.load(),
    );
    await next();
  });
  countVisits(app);
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    serveHandler(app),
  );
  const url = `http://127.0.0.1:${server.addr.port}/`;
  const first = await fetch(url);
  assert.equal(await first.text(), "1");
  assert.equal(first.headers.get("vary"), "Cookie");
  const second = await fetch(url, { headers: { cookie: cookieOf(first) } });
  assert.equal(await second.text(), "2");
});

Deno.test("Oak under app.listen(): Oak's Node server gives no native Request, and sessions work the same", async () => {
  const { app } = oakApp();
  app.use(async (ctx, next) => {
    assert.equal(ctx.request.source, undefined);
    await next();
  });
  countVisits(app);
  await underListen(app, async (url, client) => {
    const first = await fetch(url, { client });
    assert.equal(await first.text(), "1");
    const second = await fetch(url, {
      client,
      headers: { cookie: cookieOf(first) },
    });
    assert.equal(await second.text(), "2");
  });
});

/**
 * Runs `app` under `app.listen()` (Oak's Node server) on a free port, and
 * `fn` with its URL and a client that keeps no idle connection.
 */
async function underListen(
  app: Application<SessionState<Data>>,
  fn: (url: string, client: Deno.HttpClient) => Promise<void>,
): Promise<void> {
  // app.listen() reports no port of its own choosing (it answers 0): take a
  // free one first.
  const port = freePort();
  const stop = new AbortController();
  // Not awaited: after the abort, Oak's loop over requests never ends.
  app.listen({ hostname: "127.0.0.1", port, signal: stop.signal });
  // A client that keeps no idle connection, so that the server can close.
  using client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  try {
    // Oak's "listen" event comes before the socket listens.
    for (let attempt = 1;; attempt++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        break;
      } catch (error) {
        if (attempt === 200) throw error;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    await fn(`http://127.0.0.1:${port}/`, client);
  } finally {
    stop.abort();
  }
}

Deno.test("Oak under app.listen(): the proxy's X-Forwarded-Proto (trustProxy) and the session header reach the core", async () => {
  const { app } = oakApp({ trustProxy: true, header: "X-Session-Id" });
  countVisits(app);
  await underListen(app, async (url, client) => {
    const proxied = await fetch(url, {
      client,
      headers: { "x-forwarded-proto": "https" },
    });
    assert.equal(await proxied.text(), "1");
    const cookie = parseSetCookie(proxied.headers.get("set-cookie")!);
    assert.ok(cookie.attributes.has("secure"), "Secure behind the proxy");
    const first = await fetch(url, {
      client,
      headers: { "x-session-id": "" },
    });
    assert.equal(await first.text(), "1");
    assert.equal(first.headers.get("set-cookie"), null);
    const token = first.headers.get("x-session-id")!;
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    const second = await fetch(url, {
      client,
      headers: { "x-session-id": token },
    });
    assert.equal(await second.text(), "2");
  });
});

Deno.test("Oak: a middleware that never asks for the session costs no store I/O and its response is untouched", async (t) => {
  const { store, app, call } = oakApp();
  app.use((ctx) => {
    if (ctx.request.url.pathname === "/static") ctx.response.body = "file";
  });
  await untouchedRouteSteps(t, store, call);
});

Deno.test("Oak: Vary: Cookie joins the middleware's Vary; a read sends no cookie", async () => {
  const { app, call } = oakApp();
  app.use(async (ctx) => {
    (await ctx.state.session.load()).get("user");
    ctx.response.headers.set("vary", "Accept");
    ctx.response.body = "ok";
  });
  const response = await call("/");
  await response.body?.cancel();
  assert.equal(response.headers.get("vary"), "Accept, Cookie");
  assert.equal(response.headers.get("set-cookie"), null);
});

Deno.test("Oak: nothing is saved on a 5xx or when a middleware throws", async (t) => {
  const cases: Array<
    [
      string,
      (
        ctx: { throw(status: number): never; response: { status: number } },
      ) => void,
      number,
    ]
  > = [
    ["a 503 set", (ctx) => void (ctx.response.status = 503), 503],
    ["a thrown Error", () => {
      throw new Error("boom");
    }, 500],
    ["ctx.throw(401)", (ctx) => ctx.throw(401), 401],
  ];
  for (const [name, fail, status] of cases) {
    await t.step(name, async () => {
      const { store, app, call } = oakApp();
      app.use(async (ctx) => {
        const session = await ctx.state.session.load();
        if (ctx.request.url.pathname === "/set") {
          session.set("n", 1);
          ctx.response.body = "set";
          return;
        }
        await session.rotate();
        session.set("n", 2);
        fail(ctx);
      });
      const set = await call("/set");
      await set.body?.cancel();
      const before = await store.only();
      const failed = await call("/fail", {
        headers: { cookie: cookieOf(set) },
      });
      await failed.body?.cancel();
      assert.equal(failed.status, status);
      assert.equal(failed.headers.get("set-cookie"), null);
      assert.deepEqual(await store.only(), before, "the session as it was");
    });
  }
});

Deno.test("Oak: ctx.response.redirect after a login carries the rotated cookie", async () => {
  const { app, call } = oakApp();
  app.use(async (ctx) => {
    const session = await ctx.state.session.load();
    switch (ctx.request.url.pathname) {
      case "/set":
        session.set("n", 1);
        ctx.response.body = "set";
        break;
      case "/login":
        await session.rotate();
        session.set("user", "ram");
        ctx.response.redirect("/");
        break;
      default:
        ctx.response.body = session.get("user") ?? "stranger";
    }
  });
  const set = await call("/set");
  await set.body?.cancel();
  const anonymous = cookieOf(set);
  const login = await call("/login", {
    method: "POST",
    headers: { cookie: anonymous },
  });
  await login.body?.cancel();
  assert.equal(login.status, 302);
  const loggedIn = cookieOf(login);
  assert.notEqual(loggedIn, anonymous);
  const home = async (cookie: string) =>
    await (await call("/", { headers: { cookie } })).text();
  assert.equal(await home(loggedIn), "ram");
  assert.equal(await home(anonymous), "stranger", "the old id opens nothing");
});

Deno.test("Oak: a streamed body arrives whole, with the cookie of the change made before it", async () => {
  const { store, app, call } = oakApp();
  app.use(async (ctx) => {
    (await ctx.state.session.load()).set("user", "ram");
    ctx.response.body = ReadableStream.from(["one ", "two ", "three"])
      .pipeThrough(new TextEncoderStream());
  });
  const response = await call("/");
  assert.match(response.headers.get("set-cookie")!, /^sessionid=/);
  assert.equal(await response.text(), "one two three");
  assert.deepEqual((await store.only()).data, { user: "ram" });
});

Deno.test("Oak: contextState 'alias' (one ctx.state for every request) is refused, never a shared session", async () => {
  const app = new Application<SessionState<Data>>({
    contextState: "alias",
    logErrors: false,
  });
  const errors: unknown[] = [];
  app.addEventListener("error", (event) => void errors.push(event.error));
  app.use(session({ store: new SpyStore() }));
  countVisits(app);
  const response = await callHandler(serveHandler(app), "/");
  await response.body?.cancel();
  assert.equal(response.status, 500);
  assert.equal(response.headers.get("set-cookie"), null);
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof TypeError);
  assert.match(errors[0].message, /contextState: "alias"/);
});

Deno.test("Oak: serveHandler answers with Deno's own Response, and refuses a request Oak leaves unanswered", async () => {
  const app = new Application({ logErrors: false });
  app.use((ctx) => {
    if (ctx.request.url.pathname === "/none") ctx.respond = false;
    else ctx.response.body = "hello";
  });
  const handler = serveHandler(app);
  const response = await callHandler(handler, "/");
  assert.ok(response instanceof Response);
  assert.equal(await response.text(), "hello");
  await assert.rejects(callHandler(handler, "/none"), {
    name: "TypeError",
    message: /Oak gave no response \(ctx\.respond = false\)/,
  });
});

Deno.test("Oak: serveHandler passes Oak the client's network address, and none for a Unix socket", async () => {
  const app = new Application({ logErrors: false });
  app.use((ctx) => {
    ctx.response.body = ctx.request.ip;
  });
  const handler = serveHandler(app);
  const response = await callHandler(handler, "/");
  assert.equal(await response.text(), "127.0.0.1");
  const unix = await handler(new Request("http://localhost/"), {
    remoteAddr: { transport: "unix", path: "/tmp/app.sock" },
    completed: Promise.resolve(),
  });
  assert.equal(unix.status, 200);
  assert.equal(await unix.text(), "");
});

Deno.test("Oak: session() checks its options up front", () => {
  assert.throws(() => session({ absoluteTimeout: 0 }), {
    name: "TypeError",
    message: /absoluteTimeout/,
  });
});
