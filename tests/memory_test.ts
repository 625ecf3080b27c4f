import assert from "node:assert/strict";
import { deadlines, evalScript, makeRecord } from "./helpers.ts";
import { MemoryStore, SessionTooLargeError } from "../mod.ts";
import { testSessionStore } from "../testing.ts";
import type { SessionData } from "../mod.ts";

/** A record of fixed times (so that two of them compare equal) with these deadlines. */
const record = (at: number, data: SessionData = { n: 1 }) =>
  makeRecord(data, { createdAt: 0, lastActiveAt: 0, ...deadlines(at) });

Deno.test("MemoryStore passes the conformance suite", async (t) => {
  await testSessionStore(t, {
    create: () => new MemoryStore(),
    dispose: (store) => store.close(),
  });
});

Deno.test("MemoryStore files sessions by user right through many logouts and logins (its empty filings go in bulk)", async () => {
  using store = new MemoryStore({ maxSessions: 10_000, sweepInterval: 0 });
  const put = (key: string, user: string) =>
    store.set(key, { ...record(Date.now() + 60_000), user }, {
      version: null,
    });
  const listed = async (user: string) =>
    (await store.listUser(user)).map((entry) => entry.key).sort();
  await put("stays", "keeper");
  // Enough users log in and out for their empty filings to be dropped,
  // several times over; one of them logs in and out again and again.
  for (let i = 0; i < 3_000; i++) {
    await put(`s${i}`, `u${i}`);
    await store.delete(`s${i}`);
    await put(`r${i}`, "returning");
    await store.delete(`r${i}`);
  }
  await put("back", "returning");
  await put("again", "u7");
  await put("again-2", "u7");
  // A write that files a session under another user unfiles it.
  const back = (await store.get("back"))!;
  await store.set("back", { ...back.record, user: "other" }, {
    version: back.version,
  });
  assert.deepEqual(await listed("keeper"), ["stays"]);
  assert.deepEqual(await listed("u7"), ["again", "again-2"]);
  assert.deepEqual(await listed("other"), ["back"]);
  assert.deepEqual(await listed("returning"), []);
  assert.deepEqual(await listed("u0"), []);
  assert.deepEqual(await listed("u2999"), []);
  assert.equal(store.size, 4);
});

Deno.test("MemoryStore drops the oldest past maxSessions, the ones never read again first", async () => {
  using store = new MemoryStore({ maxSessions: 3 });
  for (const key of ["a", "b", "c"]) {
    await store.set(key, record(Date.now() + 60_000), { version: null });
  }
  await store.get("a"); // a was read: b, the oldest of the unread, goes
  await store.set("d", record(Date.now() + 60_000), { version: null });
  assert.equal(store.size, 3);
  assert.equal(await store.get("b"), null);
  for (const key of ["a", "c", "d"]) {
    assert.notEqual(await store.get(key), null);
  }
});

Deno.test("MemoryStore: a new session gets in when the store is full of sessions in use", async () => {
  using store = new MemoryStore({ maxSessions: 10 });
  const later = Date.now() + 60_000;
  for (let i = 0; i < 10; i++) {
    await store.set(`user${i}`, record(later), { version: null });
    await store.get(`user${i}`);
  }
  await store.set("newcomer", record(later), { version: null });
  assert.equal(store.size, 10);
  assert.notEqual(await store.get("newcomer"), null);
  assert.equal(await store.get("user0"), null, "the oldest in use made room");
});

Deno.test("MemoryStore: a flood of sessions nobody comes back to evicts them first, not the sessions in use", async () => {
  using store = new MemoryStore({ maxSessions: 100 });
  const later = Date.now() + 60_000;
  for (let i = 0; i < 10; i++) {
    await store.set(`user${i}`, record(later), { version: null });
  }
  for (let round = 0; round < 50; round++) {
    // The users come back now and then; 100 cookieless visitors meanwhile.
    for (let i = 0; i < 10; i++) await store.get(`user${i}`);
    for (let i = 0; i < 100; i++) {
      await store.set(`flood${round}-${i}`, record(later), { version: null });
    }
  }
  assert.equal(store.size, 100);
  for (let i = 0; i < 10; i++) {
    assert.notEqual(await store.get(`user${i}`), null, `user${i}`);
  }
});

Deno.test("MemoryStore.clearExpired drops only records past their deadline", async () => {
  let now = 1_000_000;
  using store = new MemoryStore({ now: () => now });
  await store.set("soon", record(now + 1_000), { version: null });
  await store.set("later", record(now + 60_000), { version: null });
  assert.equal(store.clearExpired(), 0);
  now += 1_000;
  assert.equal(store.clearExpired(), 1);
  assert.equal(await store.get("soon"), null);
  assert.notEqual(await store.get("later"), null);
});

Deno.test("MemoryStore sweeps on its timer, which close() stops", async () => {
  const store = new MemoryStore({ sweepInterval: 0.02 });
  await store.set("gone", record(Date.now() - 1), { version: null });
  await store.set("kept", record(Date.now() + 60_000), { version: null });
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(store.size, 1);
  store.close();
  // The sanitizer fails this test if the interval outlived close().
});

Deno.test("MemoryStore's sweep timer does not keep the process alive", async () => {
  const script = `
    import { MemoryStore } from ${
    JSON.stringify(new URL("../mod.ts", import.meta.url).href)
  };
    const store = new MemoryStore({ sweepInterval: 3600 });
    await store.set("k", { data: {}, createdAt: 0, lastActiveAt: 0, absoluteExpiresAt: 1, expiresAt: 1, browserSession: false }, { version: null });
    console.log("done");
  `;
  const started = Date.now();
  assert.equal(await evalScript(script), "done");
  assert.ok(Date.now() - started < 30_000);
});

Deno.test("MemoryStore rejects invalid options", () => {
  assert.throws(() => new MemoryStore({ maxSessions: 0 }), TypeError);
  assert.throws(() => new MemoryStore({ maxSessions: 1.5 }), TypeError);
  assert.throws(() => new MemoryStore({ sweepInterval: -1 }), TypeError);
  assert.throws(() => new MemoryStore({ sweepInterval: Infinity }), TypeError);
});

Deno.test("MemoryStore refuses a session over maxSessionBytes before storing anything, naming the size, the limit and the largest keys", async () => {
  using store = new MemoryStore({ maxSessionBytes: 100, sweepInterval: 0 });
  const fits = { ...record(Date.now() + 60_000), data: { a: "x".repeat(80) } };
  const version = await store.set("k", fits, { version: null });
  const over = {
    ...fits,
    data: { small: 1, big: "y".repeat(90), middle: "z".repeat(5) },
  };
  await assert.rejects(
    store.set("k", over, { version }),
    (error: Error) => {
      assert.ok(error instanceof SessionTooLargeError);
      assert.equal(
        error.message,
        'MemoryStore: the session is 127 bytes, over its limit of 100 bytes; largest keys: "big" (92 bytes), "middle" (7 bytes), "small" (1 bytes)',
      );
      assert.deepEqual(error.largest, [["big", 92], ["middle", 7], [
        "small",
        1,
      ]]);
      return true;
    },
  );
  // Multi-byte characters count as the bytes they take.
  await assert.rejects(
    store.set("k", { ...fits, data: { a: "é".repeat(50) } }, { version }),
    /the session is 108 bytes/,
  );
  assert.deepEqual(await store.get("k"), { record: fits, version });
  assert.throws(() => new MemoryStore({ maxSessionBytes: 0 }), TypeError);
});
