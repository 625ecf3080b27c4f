// CookieStore (src/stores/cookie.ts): the session sealed in the cookie.

import assert from "node:assert/strict";
import {
  CookieStore,
  getSession,
  type SessionOptions,
  SessionTooLargeError,
  withSession,
} from "../mod.ts";
import { testSessionStore } from "../testing.ts";
import { call, Client, parseSetCookie, SECRET_A, SECRET_B } from "./helpers.ts";

Deno.test("CookieStore passes what a client-side store can of the conformance suite", async (t) => {
  await testSessionStore(t, {
    create: () => new CookieStore({ secrets: [SECRET_A] }),
  });
});

/** `/?k=v` sets, `/flush` logs out, `/rotate` rotates; answers the data. */
function app(store: CookieStore, options: SessionOptions = {}) {
  return withSession(async (req) => {
    const session = await getSession(req);
    const url = new URL(req.url);
    if (url.pathname === "/flush") await session.flush();
    if (url.pathname === "/rotate") await session.rotate();
    for (const [key, value] of url.searchParams) session.set(key, value);
    return Response.json(Object.fromEntries(session.entries()));
  }, { store, ...options });
}

Deno.test("CookieStore: the cookie holds the session, encrypted: nothing of the data shows in it", async () => {
  const client = new Client(app(new CookieStore({ secrets: [SECRET_A] })));
  await client.get("/?user=ram-the-secret-agent");
  const sealed = client.cookie!;
  assert.match(sealed, /^[A-Za-z0-9_-]+$/);
  const bytes = Uint8Array.fromBase64(sealed, { alphabet: "base64url" });
  assert.ok(!new TextDecoder().decode(bytes).includes("ram-the-secret-agent"));
  assert.deepEqual(await (await client.get("/")).json(), {
    user: "ram-the-secret-agent",
  });
});

Deno.test("CookieStore: a returning cookie, opened from memory, gives a copy of its data each time; an altered copy opens nothing", async () => {
  const store = new CookieStore({ secrets: [SECRET_A] });
  const handler = withSession(async (req) => {
    const session = await getSession<{ cart: string[] }>(req);
    const url = new URL(req.url);
    if (url.pathname === "/add") {
      session.set("cart", [...session.get("cart") ?? [], "apple"]);
    } else {
      // Changed in place and not set again: never saved, as with any store.
      session.get("cart")?.push("stolen");
    }
    return Response.json(session.get("cart") ?? null);
  }, { store });
  const client = new Client(handler);
  await client.get("/add");
  const sealed = client.cookie!;
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(await (await client.get("/peek")).json(), [
      "apple",
      "stolen",
    ]);
  }
  assert.equal(client.cookie, sealed, "nothing was sent");
  for (
    const altered of [
      sealed.slice(0, -1),
      `${sealed.slice(0, -1)}A`,
      `A${sealed.slice(1)}`,
    ]
  ) {
    if (altered === sealed) continue;
    const forger = new Client(handler);
    forger.cookie = altered;
    assert.equal(await (await forger.get("/peek")).json(), null);
  }
});

Deno.test("CookieStore: a cookie sealed with an older secret opens, and comes back sealed with the first", async () => {
  const before = new Client(app(new CookieStore({ secrets: [SECRET_B] })));
  await before.get("/?user=ram");
  const rotated = app(new CookieStore({ secrets: [SECRET_A, SECRET_B] }));
  const response = await call(rotated, "/", {
    cookie: `sessionid=${before.cookie}`,
  });
  assert.deepEqual(await response.json(), { user: "ram" });
  const resealed = parseSetCookie(response.headers.get("set-cookie")!).value;
  assert.notEqual(resealed, before.cookie);
  const retired = app(new CookieStore({ secrets: [SECRET_A] }));
  assert.deepEqual(
    await (await call(retired, "/", { cookie: `sessionid=${resealed}` }))
      .json(),
    { user: "ram" },
  );
  assert.deepEqual(
    await (await call(retired, "/", { cookie: `sessionid=${before.cookie}` }))
      .json(),
    {},
    "a secret dropped from the list opens nothing",
  );
});

Deno.test("CookieStore: the cookie's name is sealed in: a value moved to a cookie of another name opens nothing", async () => {
  const store = new CookieStore({ secrets: [SECRET_A] });
  const client = new Client(app(store));
  await client.get("/?user=ram");
  const other = app(store, { cookie: { name: "othersid" } });
  assert.deepEqual(
    await (await call(other, "/", { cookie: `othersid=${client.cookie}` }))
      .json(),
    {},
  );
  assert.deepEqual(
    await (await call(app(store), "/", {
      cookie: `sessionid=${client.cookie}`,
    }))
      .json(),
    { user: "ram" },
  );
});

Deno.test("CookieStore cannot revoke: a copy of the cookie still opens its data after flush and after rotate, until its deadline", async () => {
  let now = Date.now();
  const store = new CookieStore({ secrets: [SECRET_A] });
  const handler = app(store, { absoluteTimeout: 60, now: () => now });
  for (const end of ["/flush", "/rotate"]) {
    const client = new Client(handler);
    await client.get("/?user=ram");
    const copy = client.cookie;
    await client.get(end);
    assert.notEqual(client.cookie, copy, end);
    const replay = () =>
      call(handler, "/", { cookie: `sessionid=${copy}` }).then((r) => r.json());
    assert.deepEqual(await replay(), { user: "ram" }, end);
    now += 60_000;
    assert.deepEqual(await replay(), {}, `${end}, past the deadline`);
  }
});

Deno.test("CookieStore: a session whose cookie would pass 4,096 bytes fails before anything is sent; the previous cookie stays valid", async () => {
  const store = new CookieStore({ secrets: [SECRET_A] });
  const client = new Client(app(store));
  await client.get("/?user=ram");
  const kept = client.cookie;
  await assert.rejects(
    client.get(`/?note=${"x".repeat(4_000)}`),
    (error: Error) =>
      error instanceof SessionTooLargeError && error.limit === 4_096 &&
      error.size > 4_096 &&
      /largest keys: "note" \(4002 bytes\)/.test(error.message),
  );
  assert.equal(client.cookie, kept);
  assert.deepEqual(await (await client.get("/")).json(), { user: "ram" });
});

Deno.test("CookieStore: refuses weak secrets, the secrets option beside it, user filing, and direct calls", async () => {
  assert.throws(() => new CookieStore({ secrets: ["short"] }), TypeError);
  assert.throws(
    () => new CookieStore({} as { secrets: string[] }),
    /CookieStore: secrets must be a non-empty array/,
  );
  const store = new CookieStore({ secrets: [SECRET_A] });
  assert.throws(
    () => withSession(() => new Response(""), { store, secrets: [SECRET_B] }),
    /give them to the CookieStore/,
  );
  assert.throws(
    () => withSession(() => new Response(""), { store, userKey: "userId" }),
    /userKey needs a store that files sessions by user/,
  );
  await assert.rejects(store.get("a".repeat(64)), TypeError);
});
