// session.save(): saving before the response, for a handler that must know
// the outcome (src/save.ts).

import assert from "node:assert/strict";
import {
  getSession,
  MemoryStore,
  SessionTooLargeError,
  withSession,
} from "../mod.ts";
import { Pause } from "./app.ts";
import { call, Client, parseSetCookie, SpyStore } from "./helpers.ts";

Deno.test("save() stores at once; the response saves again only what changed after it", async () => {
  const store = new SpyStore();
  const handler = withSession(async (req) => {
    const session = await getSession(req);
    session.set("a", 1);
    const before = store.sets;
    assert.equal(await session.save(), true);
    assert.equal(store.sets, before + 1, "stored before the handler answers");
    assert.notEqual(session.id, null, "a new session has its id once saved");
    if (new URL(req.url).searchParams.has("more")) session.set("b", 2);
    return new Response("ok");
  }, { store });
  const response = await call(handler, "/");
  assert.equal(store.sets, 1, "nothing more to save");
  assert.match(response.headers.get("set-cookie")!, /^sessionid=/);
  assert.deepEqual((await store.only()).data, { a: 1 });

  await call(handler, "/?more");
  assert.equal(
    store.sets,
    3,
    "b, changed after save(), saved with the response",
  );
  const keys = store.keys();
  assert.equal(keys.length, 2);
  assert.deepEqual((await store.inner.get(keys[1]))?.record.data, {
    a: 1,
    b: 2,
  });
});

Deno.test("save() lets a handler catch a store failure and answer itself; nothing is stored", async () => {
  const store = new SpyStore();
  const client = new Client(withSession(async (req) => {
    const session = await getSession(req);
    session.set("cart", ["apple"]);
    try {
      await session.save();
    } catch (error) {
      return new Response(`not saved: ${(error as Error).message}`, {
        status: 503,
      });
    }
    return new Response("saved");
  }, { store }));
  store.fail.set = true;
  const failed = await client.get("/");
  assert.equal(failed.status, 503);
  assert.equal(await failed.text(), "not saved: store down (set)");
  assert.equal(failed.headers.get("set-cookie"), null);
  assert.deepEqual(store.keys(), []);
  store.fail.set = false;
  assert.equal(await (await client.get("/")).text(), "saved");
  assert.deepEqual((await store.only()).data, { cart: ["apple"] });
});

Deno.test("save() resolves false when another request logged the session out meanwhile", async () => {
  const store = new SpyStore();
  const pause = new Pause();
  const outcomes: boolean[] = [];
  const handler = withSession(async (req) => {
    const session = await getSession(req);
    const path = new URL(req.url).pathname;
    if (path === "/flush") await session.flush();
    else if (path === "/set") session.set("n", 1);
    else {
      session.set("cart", ["apple"]);
      await pause.point();
      outcomes.push(await session.save());
    }
    return new Response("ok");
  }, { store });
  const user = new Client(handler);
  await user.get("/set");
  const { reached, resume } = pause.arm();
  const slow = user.get("/save");
  await reached;
  const tab = new Client(handler);
  tab.cookie = user.cookie;
  await tab.get("/flush");
  resume();
  const response = await slow;
  assert.deepEqual(outcomes, [false]);
  assert.equal(response.headers.get("set-cookie"), null);
  assert.deepEqual(store.keys(), []);
});

Deno.test("save() keeps what it stored and its cookie when the response is then a 5xx", async () => {
  const store = new SpyStore();
  const handler = withSession(async (req) => {
    const session = await getSession(req);
    session.set("a", 1);
    await session.save();
    session.set("b", 2); // not saved: the response is an error
    return new Response("oops", { status: 500 });
  }, { store });
  const response = await call(handler, "/");
  assert.equal(response.status, 500);
  const cookie = parseSetCookie(response.headers.get("set-cookie")!);
  assert.equal(cookie.name, "sessionid");
  assert.deepEqual((await store.only()).data, { a: 1 });
});

Deno.test("save() before streaming: the cookie is on the response whose body streams", async () => {
  const store = new SpyStore();
  const client = new Client(withSession(async (req) => {
    const session = await getSession(req);
    session.set("stream", true);
    await session.save();
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("a"));
        controller.enqueue(new TextEncoder().encode("b"));
        controller.close();
      },
    });
    return new Response(body);
  }, { store }));
  const response = await client.get("/");
  assert.equal(await response.text(), "ab");
  assert.notEqual(client.cookie, null);
  assert.deepEqual((await store.only()).data, { stream: true });
});

Deno.test("save() lets a handler answer a session too large for its store; the stored session is left as it was", async () => {
  const store = new MemoryStore({ sweepInterval: 0, maxSessionBytes: 1_000 });
  const client = new Client(withSession(async (req) => {
    const session = await getSession(req);
    session.set("note", new URL(req.url).searchParams.get("note") ?? "");
    try {
      await session.save();
    } catch (error) {
      if (!(error instanceof SessionTooLargeError)) throw error;
      return new Response(`${error.size} > ${error.limit}`, { status: 413 });
    }
    return new Response("kept");
  }, { store }));
  assert.equal(await (await client.get("/?note=short")).text(), "kept");
  const refused = await client.get(`/?note=${"x".repeat(2_000)}`);
  assert.equal(refused.status, 413);
  assert.equal(await refused.text(), "2011 > 1000");
  assert.equal(refused.headers.get("set-cookie"), null);
  const session = withSession(async (req) => {
    return Response.json(Object.fromEntries((await getSession(req)).entries()));
  }, { store });
  const seen = await call(session, "/", {
    cookie: `sessionid=${client.cookie}`,
  });
  assert.deepEqual(await seen.json(), { note: "short" });
});

Deno.test("after a failed save(), what the handler changes next is saved with the response", async () => {
  const store = new MemoryStore({ sweepInterval: 0, maxSessionBytes: 1_000 });
  const client = new Client(withSession(async (req) => {
    const session = await getSession(req);
    session.set("draft", "x".repeat(2_000));
    session.set("title", "kept");
    const saved = await session.save().catch(() => false);
    assert.equal(saved, false);
    session.delete("draft"); // too big: keep the rest
    return new Response("ok");
  }, { store }));
  assert.equal((await client.get("/")).status, 200);
  const read = withSession(async (req) => {
    return Response.json(Object.fromEntries((await getSession(req)).entries()));
  }, { store });
  const seen = await call(read, "/", { cookie: `sessionid=${client.cookie}` });
  assert.deepEqual(await seen.json(), { title: "kept" });
});

Deno.test("save() of a new, still empty session keeps setExpiry and setIdleTimeout for the session its later changes create", async () => {
  const store = new SpyStore();
  const now = Date.UTC(2030, 0, 1);
  const handler = withSession(async (req) => {
    const session = await getSession(req);
    session.setExpiry(0); // "do not remember me": a browser-session cookie
    session.setIdleTimeout(Infinity);
    assert.equal(await session.save(), true, "nothing to store yet");
    session.set("user", "ram");
    return new Response("ok");
  }, { store, idleTimeout: 60, now: () => now });
  const response = await call(handler, "/");
  const cookie = parseSetCookie(response.headers.get("set-cookie")!);
  assert.equal(cookie.attributes.has("max-age"), false, "no Max-Age");
  assert.equal(cookie.attributes.has("expires"), false, "no Expires");
  const record = await store.only();
  assert.equal(record.browserSession, true);
  assert.equal(record.idleTimeoutMs, null, "no idle timeout");
});

Deno.test("after a save() that merged onto another request's change, the response saves what changed after it, not the keys the request never changed", async () => {
  const store = new SpyStore();
  const pause = new Pause();
  const client = new Client(withSession(async (req) => {
    const session = await getSession(req);
    const url = new URL(req.url);
    if (url.pathname === "/slow") {
      await pause.point(); // another request changes a meanwhile
      session.set("b", 2);
      assert.equal(await session.save(), true);
      session.set("c", 3);
    } else {
      session.set("a", Number(url.searchParams.get("a")));
    }
    return new Response("ok");
  }, { store }));
  await (await client.get("/set?a=1")).body?.cancel();
  const { reached, resume } = pause.arm();
  const slow = client.get("/slow");
  await reached;
  await (await client.get("/set?a=2")).body?.cancel();
  resume();
  await (await slow).body?.cancel();
  assert.deepEqual((await store.only()).data, { a: 2, b: 2, c: 3 });
});
