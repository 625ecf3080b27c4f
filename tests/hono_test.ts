// The Hono middleware (src/adapters/hono.ts) against the real npm:hono,
// driven with Hono's own testing idiom, app.request(...).

import assert from "node:assert/strict";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { stream } from "hono/streaming";
import { getSession, type SessionOptions, withSession } from "../mod.ts";
import { session, type SessionVariables } from "../hono.ts";
import { callHandler } from "../testing.ts";
import { cookieOf, SpyStore, untouchedRouteSteps } from "./helpers.ts";

type Data = { user: string; n: string };
type Env = { Variables: SessionVariables<Data> };

/** A Hono app under session() on a SpyStore, and the cookie of its last answer. */
function honoApp(options: SessionOptions = {}) {
  const store = new SpyStore();
  const app = new Hono<Env>();
  app.use(session({ store, ...options }));
  return { store, app };
}

Deno.test("Hono: c.var.session and c.get('session') reach one session, typed, across requests", async () => {
  const { app } = honoApp();
  app.get("/set", async (c) => {
    const session = await c.var.session.load();
    session.set("user", c.req.query("user") ?? "");
    return c.text("set");
  });
  app.get("/get", async (c) => {
    const viaVar = await c.var.session.load();
    const viaGet = await c.get("session").load();
    assert.equal(viaVar, viaGet);
    const user: string | undefined = viaVar.get("user");
    return c.text(`Welcome ${user}`);
  });
  const set = await app.request("/set?user=Ram");
  assert.equal(await set.text(), "set");
  const get = await app.request("/get", {
    headers: { cookie: cookieOf(set) },
  });
  assert.equal(await get.text(), "Welcome Ram");
  assert.equal(get.headers.get("vary"), "Cookie");
});

Deno.test("Hono: a route that never asks for the session costs no store I/O and its response is untouched", async (t) => {
  const { store, app } = honoApp();
  app.get("/static", (c) => c.text("file"));
  await untouchedRouteSteps(t, store, (path, init) => app.request(path, init));
});

Deno.test("Hono: getSession(c.req.raw) finds the middleware's session, so code moves between withSession(app.fetch) and app.use(session())", async (t) => {
  // One route, written once, under either wrapper.
  const route = (app: Hono) =>
    app.get("/", async (c) => {
      const session = await getSession(c.req.raw);
      const n = Number(session.get("n") ?? 0) + 1;
      session.set("n", n);
      return c.text(String(n));
    });
  await t.step("under app.use(session())", async () => {
    const app = new Hono();
    app.use(session({ store: new SpyStore() }));
    route(app);
    const first = await app.request("/");
    assert.equal(await first.text(), "1");
    const second = await app.request("/", {
      headers: { cookie: cookieOf(first) },
    });
    assert.equal(await second.text(), "2");
  });
  await t.step("under withSession(app.fetch)", async () => {
    const app = new Hono();
    route(app);
    const handler = withSession(app.fetch, { store: new SpyStore() });
    const first = await callHandler(handler, "/");
    assert.equal(await first.text(), "1");
    const second = await callHandler(handler, "/", {
      headers: { cookie: cookieOf(first) },
    });
    assert.equal(await second.text(), "2");
  });
  await t.step(
    "the same Session object both ways within a request",
    async () => {
      const { app } = honoApp();
      app.get("/", async (c) =>
        c.text(
          String(
            await getSession<Data>(c.req.raw) === await c.var.session.load(),
          ),
        ));
      assert.equal(await (await app.request("/")).text(), "true");
    },
  );
});

Deno.test("Hono: Vary: Cookie joins the handler's Vary", async () => {
  const { app } = honoApp();
  app.get("/", async (c) => {
    (await c.var.session.load()).get("user");
    c.header("Vary", "Accept");
    return c.text("ok");
  });
  const response = await app.request("/");
  assert.equal(response.headers.get("vary"), "Accept, Cookie");
  assert.equal(response.headers.get("set-cookie"), null, "a read sends none");
});

Deno.test("Hono: nothing is saved on a 5xx or a thrown error, also when onError answers it", async (t) => {
  const cases: Array<{
    name: string;
    onError?: (error: Error) => Response;
    fail: () => never | Response;
    status: number;
  }> = [
    {
      name: "a 503 answered",
      fail: () => new Response("down", { status: 503 }),
      status: 503,
    },
    {
      name: "a thrown Error, Hono's default onError",
      fail: () => {
        throw new Error("boom");
      },
      status: 500,
    },
    {
      name: "a thrown Error that onError turns into a 200",
      onError: () => new Response("sorry", { status: 200 }),
      fail: () => {
        throw new Error("boom");
      },
      status: 200,
    },
    {
      name: "a thrown HTTPException(401)",
      fail: () => {
        throw new HTTPException(401, { message: "who?" });
      },
      status: 401,
    },
  ];
  for (const { name, onError, fail, status } of cases) {
    await t.step(name, async () => {
      const { store, app } = honoApp();
      if (onError) app.onError(onError);
      app.get("/set", async (c) => {
        (await c.var.session.load()).set("n", "1");
        return c.text("set");
      });
      app.get("/change-then-fail", async (c) => {
        const session = await c.var.session.load();
        await session.rotate();
        session.set("n", "2");
        return fail();
      });
      const set = await app.request("/set");
      const cookie = cookieOf(set);
      const before = await store.only();
      const silenced = console.error;
      console.error = () => {}; // Hono's default onError logs the error
      try {
        const failed = await app.request("/change-then-fail", {
          headers: { cookie },
        });
        await failed.body?.cancel();
        assert.equal(failed.status, status);
        assert.equal(failed.headers.get("set-cookie"), null);
        assert.equal(failed.headers.get("vary"), "Cookie");
      } finally {
        console.error = silenced;
      }
      assert.deepEqual(await store.only(), before, "the session as it was");
    });
  }
});

Deno.test("Hono: what save() stored stays when a handler then throws, and its cookie is sent", async () => {
  const { store, app } = honoApp();
  app.onError((error) => new Response(error.message, { status: 500 }));
  app.get("/", async (c) => {
    const session = await c.var.session.load();
    session.set("user", "ram");
    assert.equal(await session.save(), true);
    throw new Error("after the save");
  });
  const response = await app.request("/");
  assert.equal(await response.text(), "after the save");
  assert.match(response.headers.get("set-cookie")!, /^sessionid=/);
  assert.deepEqual((await store.only()).data, { user: "ram" });
});

Deno.test("Hono: c.redirect after a login carries the rotated cookie", async () => {
  const { app } = honoApp();
  app.get("/set", async (c) => {
    (await c.var.session.load()).set("n", "1");
    return c.text("set");
  });
  app.post("/login", async (c) => {
    const session = await c.var.session.load();
    await session.rotate();
    session.set("user", "ram");
    return c.redirect("/", 303);
  });
  app.get(
    "/",
    async (c) => c.text((await c.var.session.load()).get("user") ?? "stranger"),
  );
  const anonymous = cookieOf(await app.request("/set"));
  const login = await app.request("/login", {
    method: "POST",
    headers: { cookie: anonymous },
  });
  assert.equal(login.status, 303);
  assert.equal(login.headers.get("location"), "/");
  const loggedIn = cookieOf(login);
  assert.notEqual(loggedIn, anonymous);
  const home = async (cookie: string) =>
    await (await app.request("/", { headers: { cookie } })).text();
  assert.equal(await home(loggedIn), "ram");
  assert.equal(await home(anonymous), "stranger", "the old id opens nothing");
});

Deno.test("Hono: a Response with immutable headers (Response.redirect) still gets the cookie", async () => {
  const { app } = honoApp();
  app.get("/", async (c) => {
    (await c.var.session.load()).set("n", "1");
    return Response.redirect("http://localhost/next", 302);
  });
  const response = await app.request("/");
  assert.equal(response.status, 302);
  assert.equal(response.headers.get("location"), "http://localhost/next");
  assert.match(response.headers.get("set-cookie")!, /^sessionid=/);
  assert.equal(response.headers.get("vary"), "Cookie");
});

Deno.test("Hono: a proxied fetch() response keeps its own Set-Cookie and Vary beside the session's", async () => {
  await using upstream = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response("upstream", {
        headers: { "set-cookie": "theme=dark", vary: "Accept" },
      }),
  );
  const { app } = honoApp();
  app.get("/", async (c) => {
    (await c.var.session.load()).set("n", "1");
    return await fetch(`http://127.0.0.1:${upstream.addr.port}/`);
  });
  const response = await app.request("/");
  assert.equal(await response.text(), "upstream");
  const cookies = response.headers.getSetCookie();
  assert.equal(cookies.length, 2, cookies.join(" | "));
  assert.equal(cookies[0], "theme=dark");
  assert.match(cookies[1], /^sessionid=/);
  assert.equal(response.headers.get("vary"), "Accept, Cookie");
});

Deno.test("Hono: a streamed body arrives whole, with the cookie of the change made before it", async () => {
  const { store, app } = honoApp();
  app.get("/", async (c) => {
    (await c.var.session.load()).set("user", "ram");
    return stream(c, async (out) => {
      for (const part of ["one ", "two ", "three"]) await out.write(part);
    });
  });
  const response = await app.request("/");
  assert.match(response.headers.get("set-cookie")!, /^sessionid=/);
  assert.equal(await response.text(), "one two three");
  assert.deepEqual((await store.only()).data, { user: "ram" });
});

Deno.test("Hono: session() on a sub-path gives sessions there only", async () => {
  const store = new SpyStore();
  const app = new Hono<Env>();
  app.use("/admin/*", session({ store }));
  app.get("/admin/whoami", async (c) => {
    const session = await c.var.session.load();
    session.set("user", "root");
    return c.text("admin");
  });
  app.get("/public", (c) => c.text(String(c.get("session"))));
  const admin = await app.request("/admin/whoami");
  assert.match(admin.headers.get("set-cookie")!, /^sessionid=/);
  const open = await app.request("/public");
  assert.equal(await open.text(), "undefined");
  assert.equal(open.headers.get("vary"), null);
  assert.equal(store.keys().length, 1);
});

Deno.test("Hono: session() checks its options up front", () => {
  assert.throws(() => session({ idleTimeout: -1 }), {
    name: "TypeError",
    message: /idleTimeout/,
  });
});
