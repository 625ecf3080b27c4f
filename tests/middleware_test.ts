import assert from "node:assert/strict";
import {
  CookieStore,
  getSession,
  type SessionOptions,
  type SessionStore,
  withSession,
} from "../mod.ts";
import {
  applyRoute,
  call,
  Client,
  parseSetCookie,
  SECRET_A,
  SpyStore,
} from "./helpers.ts";
import { Pause } from "./app.ts";

type Extra = (req: Request) => Promise<Response | null>;

/** A handler over routes: /set?k=v sets, /delete?k deletes, /get reads, /clear, /flush, /rotate. */
function routes(
  options: SessionOptions = {},
  extra: Extra = () => Promise.resolve(null),
  pause = new Pause(),
) {
  return withSession(async (req) => {
    const custom = await extra(req);
    if (custom) return custom;
    const url = new URL(req.url);
    if (url.pathname === "/untouched") return new Response("no session");
    const session = await getSession(req);
    await applyRoute(session, url.pathname, [...url.searchParams]);
    await pause.point();
    return Response.json(Object.fromEntries(session.entries()));
  }, options);
}

/**
 * Where the second of two overlapping requests runs: in this process
 * (through the same store object, whose writes the core queues per session)
 * or in another (another store object over the same records, so that the
 * writes race in the store).
 */
const PLACES = ["this process", "another process"] as const;
type Place = typeof PLACES[number];

/** One app on one store, and a browser of it; and the same app elsewhere. */
class Overlap {
  readonly pause = new Pause();
  readonly client: Client;

  constructor(
    readonly store: SpyStore,
    readonly options: SessionOptions = {},
    readonly extra?: Extra,
  ) {
    this.client = new Client(routes({ ...options, store }, extra, this.pause));
  }

  /**
   * Runs two requests on the client's session so that `first` loads, then
   * `second` runs whole in `place`, then `first` saves: in this process
   * `first` holds still in its handler after its changes; for another
   * process, inside its store write.
   */
  async interleave(
    place: Place,
    first: string,
    second: string,
  ): Promise<Response> {
    const client = this.client;
    const rivalStore = place === "this process"
      ? this.store
      : this.store.twin();
    const rival = new Client(
      routes({ ...this.options, store: rivalStore }, this.extra),
    );
    rival.cookie = client.cookie;
    if (place === "another process") {
      this.store.beforeSet = () => rival.get(second).then(() => {});
      return await client.get(first);
    }
    const { reached, resume } = this.pause.arm();
    const slow = client.get(first);
    await reached;
    await rival.get(second);
    resume();
    return await slow;
  }
}

Deno.test("rule 1: a handler that never reads the session gets its response untouched, with no store I/O", async () => {
  const store = new SpyStore();
  const original = new Response("no session");
  const handler = withSession(() => original, { store });
  const response = await call(handler, "/", { cookie: "sessionid=x" });
  assert.equal(response, original);
  assert.equal(response.headers.get("vary"), null);
  assert.equal(response.headers.get("set-cookie"), null);
  assert.deepEqual([store.gets, store.sets, store.deletes], [0, 0, 0]);
});

Deno.test("rule 2: reading adds Vary: Cookie, once, beside an existing Vary", async () => {
  const handler = withSession(async (req) => {
    await getSession(req);
    const url = new URL(req.url);
    const vary = url.searchParams.get("vary");
    return new Response("ok", vary === null ? {} : { headers: { vary } });
  }, { store: new SpyStore() });
  assert.equal((await call(handler, "/")).headers.get("vary"), "Cookie");
  assert.equal(
    (await call(handler, "/?vary=Accept-Encoding")).headers.get("vary"),
    "Accept-Encoding, Cookie",
  );
  assert.equal(
    (await call(handler, "/?vary=cookie")).headers.get("vary"),
    "cookie",
  );
  assert.equal((await call(handler, "/?vary=*")).headers.get("vary"), "*");
});

Deno.test("rule 3: a modified session is saved and the cookie sent with Max-Age and Expires", async () => {
  const store = new SpyStore();
  const now = Date.UTC(2026, 0, 1);
  const client = new Client(routes({ store, now: () => now }));
  const response = await client.get("/set?sname=Ram");
  const cookie = parseSetCookie(response.headers.get("set-cookie")!);
  assert.equal(cookie.name, "sessionid");
  assert.match(cookie.value, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(cookie.attributes.get("max-age"), "1209600");
  assert.equal(
    cookie.attributes.get("expires"),
    new Date(now + 1_209_600_000).toUTCString(),
  );
  assert.equal(cookie.attributes.get("path"), "/");
  assert.equal(cookie.attributes.get("samesite"), "Lax");
  assert.ok(cookie.attributes.has("httponly"));
  assert.ok(
    !cookie.attributes.has("secure"),
    "http request: no Secure with secure 'auto'",
  );
  assert.deepEqual((await store.only()).data, { sname: "Ram" });
  assert.deepEqual(await (await client.get("/get")).json(), { sname: "Ram" });
});

Deno.test("rule 3: a read that changes nothing sends no cookie and writes nothing", async () => {
  const store = new SpyStore();
  const client = new Client(routes({ store }));
  await client.get("/set?a=1");
  const sets = store.sets;
  const response = await client.get("/get");
  assert.equal(response.headers.get("set-cookie"), null);
  assert.equal(store.sets, sets);
});

Deno.test("rule 3: saveEveryRequest saves and sends the cookie on every read", async () => {
  const store = new SpyStore();
  const client = new Client(routes({ store, saveEveryRequest: true }));
  await client.get("/set?a=1");
  const response = await client.get("/get");
  assert.notEqual(response.headers.get("set-cookie"), null);
  assert.equal(store.sets, 2);
  // ...but a new, empty session is still not stored.
  const stranger = await call(
    routes({ store, saveEveryRequest: true }),
    "/get",
  );
  assert.equal(stranger.headers.get("set-cookie"), null);
});

Deno.test("rule 3: expireAtBrowserClose and setExpiry(0) send no Max-Age or Expires", async () => {
  const browser = new Client(
    routes({ store: new SpyStore(), expireAtBrowserClose: true }),
  );
  const response = await browser.get("/set?a=1");
  const cookie = parseSetCookie(response.headers.get("set-cookie")!);
  assert.ok(!cookie.attributes.has("max-age"));
  assert.ok(!cookie.attributes.has("expires"));

  const store = new SpyStore();
  const client = new Client(routes({ store }, async (req) => {
    if (new URL(req.url).pathname !== "/browser") return null;
    const session = await getSession(req);
    session.setExpiry(0);
    return new Response("ok");
  }));
  await client.get("/set?a=1");
  const zero = parseSetCookie(
    (await client.get("/browser")).headers.get("set-cookie")!,
  );
  assert.ok(!zero.attributes.has("max-age"));
  // Kept on later saves, since it is stored with the record.
  const later = parseSetCookie(
    (await client.get("/set?b=2")).headers.get("set-cookie")!,
  );
  assert.ok(!later.attributes.has("max-age"));
  assert.equal((await store.only()).browserSession, true);
});

Deno.test("rule 4: a session emptied by clear() is deleted and its cookie cleared with the same path and domain", async () => {
  const store = new SpyStore();
  const client = new Client(
    routes({ store, cookie: { path: "/app", domain: "example.com" } }),
  );
  await client.get("/set?a=1");
  assert.equal(store.keys().length, 1);
  const response = await client.get("/clear");
  const cookie = parseSetCookie(response.headers.get("set-cookie")!);
  assert.equal(cookie.value, "");
  assert.equal(cookie.attributes.get("max-age"), "0");
  assert.equal(cookie.attributes.get("path"), "/app");
  assert.equal(cookie.attributes.get("domain"), "example.com");
  assert.equal(store.keys().length, 0);
});

Deno.test("rule 4: deleting the last key ends the session too", async () => {
  const store = new SpyStore();
  const client = new Client(routes({ store }, async (req) => {
    if (new URL(req.url).pathname !== "/pop") return null;
    (await getSession(req)).pop("a");
    return new Response("popped");
  }));
  await client.get("/set?a=1");
  const response = await client.get("/pop");
  assert.equal(
    parseSetCookie(response.headers.get("set-cookie")!).attributes.get(
      "max-age",
    ),
    "0",
  );
  assert.equal(store.keys().length, 0);
});

Deno.test("rule 4: an unknown or malformed cookie on a read gets cleared", async () => {
  const store = new SpyStore();
  const handler = routes({ store });
  for (const cookie of ["sessionid=nonsense", `sessionid=${"A".repeat(43)}`]) {
    const response = await call(handler, "/get", { cookie });
    assert.equal(
      parseSetCookie(response.headers.get("set-cookie")!).attributes.get(
        "max-age",
      ),
      "0",
    );
  }
});

Deno.test("rule 5: a new session left empty stores nothing and sends no cookie", async () => {
  const store = new SpyStore();
  const response = await call(routes({ store }), "/get");
  assert.equal(response.headers.get("set-cookie"), null);
  assert.equal(response.headers.get("vary"), "Cookie");
  assert.deepEqual([store.sets, store.deletes], [0, 0]);
});

Deno.test("rule 6: status >= 500 saves nothing", async () => {
  const store = new SpyStore();
  const handler = withSession(async (req) => {
    (await getSession(req)).set("a", 1);
    return new Response("oops", { status: 503 });
  }, { store });
  const response = await call(handler, "/");
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("set-cookie"), null);
  assert.equal(store.sets, 0);
});

Deno.test("rule 6: a handler that throws saves nothing and its error propagates", async () => {
  const store = new SpyStore();
  const client = new Client(routes({ store }, async (req) => {
    if (new URL(req.url).pathname !== "/boom") return null;
    const session = await getSession(req);
    session.set("a", "changed");
    await session.rotate();
    throw new Error("boom");
  }));
  await client.get("/set?a=original");
  const before = store.keys();
  await assert.rejects(client.get("/boom"), { message: "boom" });
  assert.deepEqual(store.keys(), before, "rotation did not happen");
  assert.deepEqual(await (await client.get("/get")).json(), { a: "original" });
});

Deno.test("a response that sets or clears the session cookie is kept out of shared caches, whatever the handler set", async (t) => {
  const handler = (cacheControl: string | null) =>
    routes({ store: new SpyStore() }, async (req) => {
      const session = await getSession(req);
      const path = new URL(req.url).pathname;
      if (path === "/write") session.set("a", 1);
      if (path === "/clear") session.clear();
      return new Response(
        "ok",
        cacheControl === null
          ? {}
          : { headers: { "cache-control": cacheControl } },
      );
    });
  const cases: Array<[string | null, string]> = [
    [null, "private"],
    ["public, max-age=600", "private, max-age=600"],
    ["max-age=60, s-maxage=600", "private, max-age=60"],
    ["PUBLIC,s-maxage = 5", "private"],
    ["private, max-age=60", "private, max-age=60"],
    ["no-store", "no-store"],
    [
      'private="set-cookie", max-age=5',
      'private, private="set-cookie", max-age=5',
    ],
  ];
  for (const [set, sent] of cases) {
    await t.step(`Cache-Control ${set} is sent as ${sent}`, async () => {
      const response = await call(handler(set), "/write");
      assert.match(response.headers.get("set-cookie")!, /^sessionid=/);
      assert.equal(response.headers.get("cache-control"), sent);
    });
  }
  await t.step("a cleared cookie too", async () => {
    const client = new Client(handler("public, max-age=60"));
    await client.get("/write");
    const cleared = await client.get("/clear");
    assert.match(cleared.headers.get("set-cookie")!, /Max-Age=0/);
    assert.equal(cleared.headers.get("cache-control"), "private, max-age=60");
  });
  await t.step(
    "a read that sends no cookie keeps the handler's caching",
    async () => {
      const client = new Client(handler("public, max-age=60"));
      await client.get("/write");
      const read = await client.get("/read");
      assert.equal(read.headers.get("set-cookie"), null);
      assert.equal(read.headers.get("cache-control"), "public, max-age=60");
      assert.equal(read.headers.get("vary"), "Cookie");
    },
  );
});

Deno.test("rule 7: responses with immutable headers still get the cookie", async (t) => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("from upstream", { headers: { "x-upstream": "1" } }),
  );
  const upstream = `http://127.0.0.1:${server.addr.port}/`;
  const handler = withSession(async (req) => {
    (await getSession(req)).set("a", 1);
    return new URL(req.url).pathname === "/redirect"
      ? Response.redirect("http://localhost/next", 302)
      : await fetch(upstream);
  }, { store: new SpyStore() });

  await t.step("Response.redirect", async () => {
    const response = await call(handler, "/redirect");
    assert.equal(response.status, 302);
    assert.equal(response.headers.get("location"), "http://localhost/next");
    assert.match(response.headers.get("set-cookie")!, /^sessionid=/);
    assert.equal(response.headers.get("vary"), "Cookie");
  });
  await t.step("a fetch result", async () => {
    const response = await call(handler, "/proxy");
    assert.match(response.headers.get("set-cookie")!, /^sessionid=/);
    assert.equal(response.headers.get("x-upstream"), "1");
    assert.equal(await response.text(), "from upstream");
  });
});

Deno.test("rule 8: a store failure while saving rejects the wrapped handler", async () => {
  const store = new SpyStore();
  const client = new Client(routes({ store }));
  store.fail.set = true;
  await assert.rejects(client.get("/set?a=1"), { message: "store down (set)" });
  store.fail.set = false;
  await client.get("/set?a=1");
  store.fail.delete = true;
  await assert.rejects(client.get("/clear"), {
    message: "store down (delete)",
  });
});

Deno.test("rule 8: a store failure while loading rejects getSession, never an empty session", async () => {
  const store = new SpyStore();
  const client = new Client(routes({ store }));
  await client.get("/set?a=1");
  store.fail.get = true;
  await assert.rejects(client.get("/set?b=2"), { message: "store down (get)" });
  store.fail.get = false;
  assert.deepEqual(await (await client.get("/get")).json(), { a: "1" });
});

Deno.test("rule 8: a handler that catches a load failure and answers keeps its answer", async () => {
  const store = new SpyStore();
  store.fail.get = true;
  const handler = withSession(async (req) => {
    try {
      await getSession(req);
      return new Response("loaded");
    } catch {
      return new Response("sessions unavailable", { status: 503 });
    }
  }, { store });
  const response = await call(handler, "/", {
    cookie: `sessionid=${"A".repeat(43)}`,
  });
  assert.equal(response.status, 503);
  assert.equal(await response.text(), "sessions unavailable");
});

Deno.test("rule 9: a session flushed by another request is not resurrected by a slower one", async (t) => {
  for (const place of PLACES) {
    await t.step(`the logout in ${place}`, async () => {
      const store = new SpyStore();
      const overlap = new Overlap(store);
      const { client } = overlap;
      await client.get("/set?user=ram");
      const cookie = client.cookie;
      const response = await overlap.interleave(
        place,
        "/set?cart=apple",
        "/flush",
      );
      assert.equal(store.keys().length, 0, "the flushed session stays deleted");
      assert.equal(response.headers.get("set-cookie"), null);
      client.cookie = cookie;
      const after = await client.get("/get");
      assert.deepEqual(await after.json(), {});
    });
  }
});

Deno.test("rule 9: a touch does not resurrect a session deleted meanwhile", async (t) => {
  for (const place of PLACES) {
    await t.step(`the logout in ${place}`, async () => {
      const store = new SpyStore();
      let now = 0;
      const overlap = new Overlap(store, {
        idleTimeout: 100,
        touchInterval: 10,
        now: () => now,
      });
      await overlap.client.get("/set?user=ram");
      now = 20_000; // the next read is due to touch
      await overlap.interleave(place, "/get", "/flush");
      assert.equal(store.keys().length, 0);
    });
  }
});

Deno.test("rule 10: overlapping requests changing different keys both persist", async (t) => {
  for (const place of PLACES) {
    await t.step(`the other request in ${place}`, async () => {
      const store = new SpyStore();
      const overlap = new Overlap(store);
      await overlap.client.get("/set?base=0");
      await overlap.interleave(place, "/set?a=1", "/set?b=2");
      assert.deepEqual((await store.only()).data, {
        base: "0",
        a: "1",
        b: "2",
      });
    });
  }
});

Deno.test("rule 10: on the same key the later save wins; deletions merge too", async (t) => {
  for (const place of PLACES) {
    await t.step(`the other request in ${place}`, async () => {
      const store = new SpyStore();
      const overlap = new Overlap(store);
      await overlap.client.get("/set?base=0&k=start");
      await overlap.interleave(place, "/set?k=slow", "/set?k=fast");
      assert.equal((await store.only()).data.k, "slow");
      await overlap.interleave(place, "/delete?base", "/set?other=1");
      assert.deepEqual((await store.only()).data, { k: "slow", other: "1" });
    });
  }
});

Deno.test("rule 10: a save that keeps losing races to other processes fails loudly within conflictTimeout", async () => {
  const store = new SpyStore();
  const client = new Client(routes({ store }));
  await client.get("/set?a=0");
  const cookie = client.cookie!;
  // Before each of its writes, another process writes the same session.
  let rival = 0;
  const original = store.set.bind(store);
  store.set = async (key, record, condition) => {
    const latest = (await store.inner.get(key))!;
    await original(key, { ...latest.record, data: { rival: rival++ } }, {
      version: latest.version,
    });
    return await original(key, record, condition);
  };
  const started = performance.now();
  await assert.rejects(
    call(routes({ store, conflictTimeout: 0.2 }), "/set?a=1", {
      cookie: `sessionid=${cookie}`,
    }),
    /Session not saved: for 0.2 s every write lost a race with another process/,
  );
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 200 && elapsed < 2_000, `${elapsed} ms`);
  assert.ok(rival > 5, `more than a fixed handful of tries: ${rival}`);
  assert.deepEqual((await store.only()).data, { rival: rival - 1 });
});

Deno.test("getSession loads once per request and returns the same object", async () => {
  const store = new SpyStore();
  const client = new Client(routes({ store }));
  await client.get("/set?a=1");
  const gets = store.gets;
  const handler = withSession(async (req) => {
    const [a, b] = await Promise.all([getSession(req), getSession(req)]);
    const c = await getSession(req);
    assert.equal(a, b);
    assert.equal(a, c);
    return new Response("ok");
  }, { store });
  await call(handler, "/", { cookie: `sessionid=${client.cookie}` });
  assert.equal(store.gets - gets, 1);
});

Deno.test("getSession on a request that did not pass through withSession rejects with a TypeError", async () => {
  await assert.rejects(
    getSession(new Request("http://localhost/")),
    (error: Error) =>
      error instanceof TypeError && /withSession/.test(error.message) &&
      /callHandler from @denokit\/session\/testing/.test(error.message),
  );
});

Deno.test("getSession rejects a copy of the request, and still loads for the request itself", async () => {
  const store = new SpyStore();
  const client = new Client(routes({ store }));
  await client.get("/set?a=1");
  const handler = withSession(async (req) => {
    await assert.rejects(getSession(new Request(req)), TypeError);
    const session = await getSession(req);
    return new Response(String(session.get("a")));
  }, { store });
  const response = await call(handler, "/", {
    cookie: `sessionid=${client.cookie}`,
  });
  assert.equal(await response.text(), "1");
  assert.equal(response.headers.get("vary"), "Cookie");
});

Deno.test("flush deletes the record at once; values set afterwards start a new session", async () => {
  const store = new SpyStore();
  const client = new Client(routes({ store }, async (req) => {
    if (new URL(req.url).pathname !== "/relogin") return null;
    const session = await getSession(req);
    const oldId = session.id;
    await session.flush();
    assert.equal(store.keys().length, 0, "deleted before the response");
    assert.equal(session.id, null);
    assert.equal(session.isNew, true);
    session.set("message", "logged out");
    return new Response(oldId);
  }));
  await client.get("/set?user=ram");
  const oldId = client.cookie;
  const response = await client.get("/relogin");
  assert.equal(await response.text(), oldId);
  assert.notEqual(client.cookie, null);
  assert.notEqual(client.cookie, oldId);
  assert.deepEqual((await store.only()).data, { message: "logged out" });
});

Deno.test("rotate keeps the data under a new id and deletes the old record", async () => {
  const store = new SpyStore();
  const client = new Client(routes({ store }));
  await client.get("/set?user=ram");
  const oldCookie = client.cookie;
  const [oldKey] = store.keys();
  await client.get("/rotate");
  assert.notEqual(client.cookie, oldCookie);
  assert.equal(store.keys().length, 1);
  assert.notEqual(store.keys()[0], oldKey);
  assert.deepEqual(await (await client.get("/get")).json(), { user: "ram" });
  // The old id no longer opens the session (session fixation).
  const fixated = await call(routes({ store }), "/get", {
    cookie: `sessionid=${oldCookie}`,
  });
  assert.deepEqual(await fixated.json(), {});
});

Deno.test("rotate, then a concurrent change to the old session, is merged into the new one", async (t) => {
  for (const place of PLACES) {
    await t.step(`the change in ${place}`, async () => {
      const store = new SpyStore();
      const overlap = new Overlap(store);
      const { client } = overlap;
      await client.get("/set?user=ram");
      const cookie = client.cookie;
      await overlap.interleave(place, "/rotate", "/set?cart=apple");
      assert.notEqual(client.cookie, cookie);
      assert.deepEqual((await store.only()).data, {
        user: "ram",
        cart: "apple",
      });
    });
  }
});

Deno.test("the Secure attribute follows the request's scheme with secure 'auto'", async () => {
  const handler = routes({ store: new SpyStore() });
  const https = await call(handler, "https://example.com/set?a=1");
  assert.ok(
    parseSetCookie(https.headers.get("set-cookie")!).attributes.has("secure"),
  );
  const forced = await call(
    routes({ store: new SpyStore(), cookie: { secure: true } }),
    "/set?a=1",
  );
  assert.ok(
    parseSetCookie(forced.headers.get("set-cookie")!).attributes.has("secure"),
  );
});

Deno.test("cookie options reach the Set-Cookie header", async () => {
  const handler = routes({
    store: new SpyStore(),
    cookie: {
      name: "__Host-sid",
      httpOnly: false,
      sameSite: "Strict",
      partitioned: true,
    },
  });
  const header = (await call(handler, "/set?a=1")).headers.get("set-cookie")!;
  const cookie = parseSetCookie(header);
  assert.equal(cookie.name, "__Host-sid");
  assert.ok(!cookie.attributes.has("httponly"));
  assert.ok(cookie.attributes.has("secure"), "__Host- forces Secure");
  assert.ok(cookie.attributes.has("partitioned"));
  assert.equal(cookie.attributes.get("samesite"), "Strict");
});

Deno.test("a WebSocket upgrade response gets the cookie", async () => {
  const store = new SpyStore();
  const handler = withSession(async (req) => {
    (await getSession(req)).set("ws", true);
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onopen = () => socket.close();
    return response;
  }, { store });
  await using server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
  }, handler);
  const socket = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
  await new Promise((resolve) => (socket.onclose = resolve));
  assert.deepEqual((await store.only()).data, { ws: true });
});

Deno.test("trustProxy: secure 'auto' follows the proxy's Forwarded or X-Forwarded-Proto only when trusted", async (t) => {
  const secureWith = async (trustProxy: boolean, headers: HeadersInit) => {
    const response = await call(
      routes({ store: new SpyStore(), trustProxy }),
      "/set?a=1",
      { headers },
    );
    return parseSetCookie(response.headers.get("set-cookie")!).attributes.has(
      "secure",
    );
  };
  const cases: Array<[HeadersInit, boolean]> = [
    [{ "x-forwarded-proto": "https" }, true],
    [{ "x-forwarded-proto": "HTTPS" }, true],
    [{ "x-forwarded-proto": "http, https" }, true],
    [{ "x-forwarded-proto": "https, http" }, false],
    [{ forwarded: "for=192.0.2.60;proto=https;by=203.0.113.43" }, true],
    [{ forwarded: 'for="[2001:db8::1]";proto="https"' }, true],
    [{ forwarded: "for=a;proto=https, for=b;proto=http" }, false],
    [{ forwarded: "for=a;proto=http, for=b;proto=https" }, true],
    [{ forwarded: "for=a", "x-forwarded-proto": "https" }, true],
    [{}, false],
  ];
  for (const [headers, trusted] of cases) {
    await t.step(JSON.stringify(headers), async () => {
      assert.equal(await secureWith(true, headers), trusted);
      assert.equal(
        await secureWith(false, headers),
        false,
        "ignored by default",
      );
    });
  }
});

Deno.test("the header transport keeps the rules: lazy, no save on a 5xx, reserved names refused", async () => {
  const store = new SpyStore();
  const header = "X-Session-Id";
  const handler = withSession(async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/untouched") return new Response("no session");
    (await getSession(req)).set("a", 1);
    return new Response("ok", { status: path === "/fail" ? 503 : 200 });
  }, { store, header });
  const untouched = await call(handler, "/untouched", {
    headers: { [header]: "" },
  });
  assert.equal(untouched.headers.get("vary"), null);
  assert.equal(store.gets + store.sets, 0);
  const failed = await call(handler, "/fail", { headers: { [header]: "" } });
  assert.equal(failed.headers.get(header), null);
  assert.equal(store.sets, 0);
  const saved = await call(handler, "/", { headers: { [header]: "" } });
  assert.match(saved.headers.get(header)!, /^[A-Za-z0-9_-]{43}$/);
  for (
    const name of ["Cookie", "set-cookie", "Authorization", "bad name", ""]
  ) {
    assert.throws(
      () => withSession(() => new Response(""), { header: name }),
      TypeError,
      name,
    );
  }
});

Deno.test("the header transport hands no script the cookie's session: a session the cookie opened is answered in the cookie, whatever header comes with it", async (t) => {
  const header = "X-Session-Id";
  const stores: Array<[string, () => SessionStore]> = [
    ["a store", () => new SpyStore()],
    ["a CookieStore", () => new CookieStore({ secrets: [SECRET_A] })],
  ];
  for (const [name, store] of stores) {
    await t.step(name, async () => {
      const handler = routes({ store: store(), header });
      // A browser: the cookie is HttpOnly, out of the page's reach.
      const browser = new Client(handler);
      await browser.get("/set?user=ram");
      const cookie = browser.cookie!;
      // A script on the page sends the header (empty, or any value); the
      // browser adds the cookie.
      for (const sent of ["", "x", "A".repeat(43)]) {
        for (const path of ["/set?seen=1", "/rotate"]) {
          const response = await call(handler, path, {
            cookie: `sessionid=${browser.cookie}`,
            headers: { [header]: sent },
          });
          assert.deepEqual(
            (await response.json()).user,
            "ram",
            `${path}, header ${JSON.stringify(sent)}`,
          );
          assert.equal(response.headers.get(header), null, path);
          const set = parseSetCookie(response.headers.get("set-cookie")!);
          assert.ok(set.attributes.has("httponly"));
          browser.cookie = set.value;
        }
      }
      assert.notEqual(browser.cookie, cookie, "rotated, in the cookie");
    });
  }
});
