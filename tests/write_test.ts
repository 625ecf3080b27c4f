// The write protocol (src/write.ts): two requests on one session, the second
// run whole between the first's load and its save, in this process and in
// another, on every store; then the queue of one process, driven directly.

import assert from "node:assert/strict";
import {
  MemoryStore,
  type SessionOptions,
  type SessionRecord,
  type SessionStore,
  SessionTooLargeError,
  withSession,
} from "../mod.ts";
import { resolveOptions } from "../src/options.ts";
import { type Edit, type Outcome, Writer } from "../src/write.ts";
import {
  Client,
  type OpenStore,
  Pause,
  stepsOn,
  STORES,
  testApp,
} from "./app.ts";
import { CountingStore, gate, makeRecord } from "./helpers.ts";

const PLACES = ["this process", "another process"] as const;

/** A session app on a store, and the same app in `place`. */
function apps(
  opened: OpenStore,
  place: typeof PLACES[number],
  options: SessionOptions = {},
) {
  const pause = new Pause();
  const here = withSession(testApp(pause), { ...options, store: opened.store });
  const there = place === "this process"
    ? here
    : withSession(testApp(), { ...options, store: opened.twin() });
  return { pause, here, there };
}

/** Runs `first` until it has loaded and changed the session, then `second` whole, then lets `first` save. */
async function interleave<T, U>(
  pause: Pause,
  first: () => Promise<T>,
  second: () => Promise<U>,
): Promise<[T, U]> {
  const { reached, resume } = pause.arm();
  const slow = first();
  await reached;
  const other = await second();
  resume();
  return [await slow, other];
}

for (const { name, open } of STORES) {
  for (const place of PLACES) {
    Deno.test(`${name}, the other request in ${place}: the write protocol`, async (t) => {
      const step = stepsOn(t, open);

      await step(
        "a request that deletes the last key it saw keeps a key another request added meanwhile",
        async (opened) => {
          const { pause, here, there } = apps(opened, place);
          const user = new Client(here);
          await user.get("/set?a=1");
          const tab = user.tab(there);
          const [emptied] = await interleave(
            pause,
            () => user.get("/delete?a&gate"),
            () => tab.get("/set?b=2"),
          );
          assert.doesNotMatch(emptied.setCookie ?? "", /Max-Age=0/);
          assert.deepEqual((await user.get("/data")).data, { b: "2" });
        },
      );

      await step(
        "a change that saves after a request emptied the session does not bring it back",
        async (opened) => {
          const { pause, here, there } = apps(opened, place);
          const user = new Client(here);
          await user.get("/set?a=1");
          const cookie = user.cookie;
          const tab = user.tab(there);
          const [late, emptied] = await interleave(
            pause,
            () => user.get("/set?b=2&gate"),
            () => tab.get("/delete?a"),
          );
          assert.match(emptied.setCookie ?? "", /Max-Age=0/);
          assert.equal(late.setCookie, null);
          const again = new Client(here);
          again.cookie = cookie;
          const seen = await again.get("/data");
          assert.deepEqual([seen.data, seen.isNew], [{}, true]);
        },
      );

      await step(
        "a write that loaded before a login lands on the rotated session, and is sent no cookie",
        async (opened) => {
          const { pause, here, there } = apps(opened, place);
          const user = new Client(here);
          await user.get("/set?cart=apple");
          const oldCookie = user.cookie;
          const login = user.tab(there);
          const [write] = await interleave(
            pause,
            () => user.get("/set?theme=dark&gate"),
            () => login.get("/rotate?user=ram"),
          );
          assert.equal(write.setCookie, null, "the old id is not sent again");
          assert.notEqual(login.cookie, oldCookie);
          assert.deepEqual((await login.get("/data")).data, {
            cart: "apple",
            user: "ram",
            theme: "dark",
          });
          const stale = new Client(here);
          stale.cookie = oldCookie;
          assert.deepEqual((await stale.get("/data")).data, {});
        },
      );

      await step(
        "a logout that loaded before a login ends the rotated session too",
        async (opened) => {
          const { pause, here, there } = apps(opened, place);
          const user = new Client(here);
          await user.get("/set?cart=apple");
          const login = user.tab(there);
          const [logout] = await interleave(
            pause,
            () => user.get("/flush?gate=before"),
            () => login.get("/rotate?user=ram"),
          );
          assert.match(logout.setCookie ?? "", /Max-Age=0/);
          assert.notEqual(login.cookie, null, "the login sent its new id");
          const seen = await login.get("/data");
          assert.deepEqual([seen.data, seen.isNew], [{}, true]);
        },
      );

      await step(
        "a login that loaded before a write and saves after it keeps the write",
        async (opened) => {
          const { pause, here, there } = apps(opened, place);
          const user = new Client(here);
          await user.get("/set?cart=apple");
          const oldCookie = user.cookie;
          const [login] = await interleave(
            pause,
            () => user.get("/rotate?user=ram&gate"),
            () => user.tab(there).get("/set?theme=dark"),
          );
          assert.notEqual(login.setCookie, null);
          assert.notEqual(user.cookie, oldCookie);
          assert.deepEqual((await user.get("/data")).data, {
            cart: "apple",
            user: "ram",
            theme: "dark",
          });
        },
      );

      await step(
        "two logins racing: the second gets a session of its own, and neither sees the other's",
        async (opened) => {
          const { pause, here, there } = apps(opened, place);
          const user = new Client(here);
          await user.get("/set?cart=apple");
          const oldCookie = user.cookie;
          const other = user.tab(there);
          await interleave(
            pause,
            () => user.get("/rotate?user=eve&gate"),
            () => other.get("/rotate?user=ram"),
          );
          assert.notEqual(user.cookie, oldCookie);
          assert.notEqual(other.cookie, oldCookie);
          assert.notEqual(user.cookie, other.cookie);
          assert.deepEqual((await user.get("/data")).data, {
            cart: "apple",
            user: "eve",
          });
          assert.deepEqual((await other.get("/data")).data, {
            cart: "apple",
            user: "ram",
          });
        },
      );

      await step(
        "activity only moves forward: a slow request saving after a faster one keeps the later last activity",
        async (opened) => {
          // The real time to start from: a store that expires records
          // itself (Redis's PXAT) does so on the real clock.
          let now = Date.now();
          const start = now;
          const options = {
            idleTimeout: 100,
            touchInterval: 10,
            now: () => now,
          };
          const { pause, here, there } = apps(opened, place, options);
          const user = new Client(here);
          await user.get("/set?a=1");
          const { reached, resume } = pause.arm();
          now = start + 70_000;
          const slow = user.get("/set?slow=1&gate"); // its clock: 70 s
          await reached;
          now = start + 75_000;
          await user.tab(there).get("/set?fast=1"); // its clock: 75 s
          resume();
          await slow;
          // 102 s after the slow request's clock, 97 s after the fast one's.
          now = start + 172_000;
          const seen = await user.get("/data");
          assert.equal(seen.wasExpired, false);
          assert.deepEqual(seen.data, { a: "1", slow: "1", fast: "1" });
        },
      );

      await step(
        "a logout while another request is saving: the session stays ended",
        async (opened) => {
          const { pause, here, there } = apps(opened, place);
          const user = new Client(here);
          await user.get("/set?user=ram");
          const cookie = user.cookie;
          const [late] = await interleave(
            pause,
            () => user.get("/set?cart=apple&gate"),
            () => user.tab(there).get("/flush"),
          );
          assert.equal(late.setCookie, null);
          const again = new Client(here);
          again.cookie = cookie;
          assert.deepEqual((await again.get("/data")).data, {});
        },
      );
    });
  }
}

for (const { name, open } of STORES) {
  Deno.test(`${name}: a logout whose read another process's login overtakes, before it deletes, ends the rotated session too`, async () => {
    const opened = await open();
    try {
      const store = new CountingStore(opened.store);
      const here = withSession(testApp(), { store });
      const there = withSession(testApp(), { store: opened.twin() });
      const user = new Client(here);
      await user.get("/set?user=ram");
      const login = user.tab(there);
      // The logout's request loads the session (a read), then ends it: its
      // second read is where the login of the other process lands.
      let reads = 0;
      store.afterGet = async () => {
        if (++reads === 2) await login.get("/rotate?user=ram");
      };
      const logout = await user.get("/flush");
      assert.equal(reads >= 2, true, "the logout read the session again");
      assert.match(logout.setCookie ?? "", /Max-Age=0/);
      assert.notEqual(login.cookie, user.cookie, "the login rotated");
      store.afterGet = null;
      assert.deepEqual((await login.get("/data")).data, {});
      const copy = new Client(here);
      copy.cookie = login.cookie;
      assert.deepEqual((await copy.get("/data")).isNew, true);
    } finally {
      await opened.close();
    }
  });
}

// The queue of one process, driven directly.

const config = resolveOptions({ idleTimeout: 100, touchInterval: 10 });

/** A record of fixed times, last active at `lastActiveAt`, under `config`'s idle timeout. */
const record = (data: Record<string, string>, lastActiveAt = 0) =>
  makeRecord(data, {
    createdAt: 0,
    lastActiveAt,
    absoluteExpiresAt: 1e15,
    expiresAt: lastActiveAt + 100_000,
  });

/** An edit that sets `changes`, as a request that loaded `loaded` makes it. */
function edit(
  loaded: { record: SessionRecord; version: string },
  changes: Record<string, string | undefined>,
  now = 1_000,
): Edit {
  const map = new Map(Object.entries(changes));
  const view = { ...loaded.record.data } as Record<string, string>;
  for (const [key, value] of map) {
    if (value === undefined) delete view[key];
    else view[key] = value;
  }
  return {
    kind: "edit",
    config,
    now,
    save: true,
    cleared: false,
    changes: map,
    expiry: null,
    rotation: null,
    loaded,
    view,
  };
}

/** A store whose writes wait until `release()`, counted. */
class HeldStore extends CountingStore<MemoryStore> {
  #held = gate();
  #holding = true;
  constructor(inner = new MemoryStore({ sweepInterval: 0 })) {
    super(inner);
  }
  release() {
    this.#holding = false;
    this.#held.open();
  }
  override async set(
    ...args: Parameters<SessionStore["set"]>
  ): Promise<string | null> {
    if (this.#holding) await this.#held.promise;
    return await super.set(...args);
  }
  override async delete(key: string): Promise<void> {
    if (this.#holding) await this.#held.promise;
    return await super.delete(key);
  }
}

const KEY = "a".repeat(64);

Deno.test("Writer: changes that arrive while a write is in flight go together, in order, as one write", async () => {
  const store = new HeldStore();
  const v1 =
    (await store.inner.set(KEY, record({ n: "0" }), { version: null }))!;
  const loaded = { record: record({ n: "0" }), version: v1 };
  const writer = new Writer(store);
  const outcomes: Promise<Outcome>[] = [
    writer.submit(KEY, edit(loaded, { a: "1" })),
  ];
  for (const [key, value] of [["b", "2"], ["a", "3"], ["n", undefined]]) {
    outcomes.push(writer.submit(KEY, edit(loaded, { [key!]: value })));
  }
  store.release();
  const settled = await Promise.all(outcomes);
  assert.deepEqual(settled.map((o) => o.kind), [
    "stored",
    "stored",
    "stored",
    "stored",
  ]);
  assert.equal(store.sets, 2, "the first write, then the other three together");
  assert.deepEqual((await store.inner.get(KEY))?.record.data, {
    a: "3",
    b: "2",
  });
});

Deno.test("Writer: a logout queued behind writes ends the session, and the writes queued behind it find it gone", async () => {
  const store = new HeldStore();
  const v1 =
    (await store.inner.set(KEY, record({ n: "0" }), { version: null }))!;
  const loaded = { record: record({ n: "0" }), version: v1 };
  const writer = new Writer(store);
  const before = writer.submit(KEY, edit(loaded, { a: "1" }));
  const logout = writer.submit(KEY, { kind: "end", config });
  const after = writer.submit(KEY, edit(loaded, { b: "2" }));
  store.release();
  assert.equal((await before).kind, "stored");
  assert.equal((await logout).kind, "ended");
  assert.equal((await after).kind, "gone");
  assert.equal(await store.inner.get(KEY), null);
});

Deno.test("Writer: a session found past its deadline is not ended when another request refreshed it", async () => {
  const store = new MemoryStore({ sweepInterval: 0 });
  const stale = record({ n: "0" }, 0); // idle deadline: 100 s
  const v1 = (await store.set(KEY, stale, { version: null }))!;
  // Another process refreshed it at 99 s.
  const fresh = record({ n: "0" }, 99_000);
  await store.set(KEY, fresh, { version: v1 });
  const writer = new Writer(store);
  const outcome = await writer.submit(KEY, {
    kind: "expire",
    config,
    now: 101_000,
    loaded: { record: stale, version: v1 },
  });
  assert.equal(outcome.kind, "unchanged");
  assert.deepEqual((await store.get(KEY))?.record, fresh);
  // Unrefreshed, it ends.
  const ended = await writer.submit(KEY, {
    kind: "expire",
    config,
    now: 200_000,
    loaded: (await store.get(KEY))!,
  });
  assert.equal(ended.kind, "ended");
  assert.equal(await store.get(KEY), null);
});

Deno.test("Writer: a store failure rejects every change of the batch, and the next batch starts afresh", async () => {
  const store = new HeldStore();
  const v1 =
    (await store.inner.set(KEY, record({ n: "0" }), { version: null }))!;
  const loaded = { record: record({ n: "0" }), version: v1 };
  const writer = new Writer(store);
  const failing = store.set.bind(store);
  let fail = true;
  store.set = (...args) =>
    fail ? Promise.reject(new Error("down")) : failing(...args);
  const first = writer.submit(KEY, edit(loaded, { a: "1" }));
  const second = writer.submit(KEY, edit(loaded, { b: "2" }));
  store.release();
  await assert.rejects(first, /down/);
  await assert.rejects(second, /down/);
  assert.deepEqual((await store.inner.get(KEY))?.record.data, { n: "0" });
  fail = false;
  assert.equal(
    (await writer.submit(KEY, edit(loaded, { c: "3" }))).kind,
    "stored",
  );
  assert.deepEqual((await store.inner.get(KEY))?.record.data, {
    n: "0",
    c: "3",
  });
});

Deno.test("Writer: a change that makes the session too large fails alone; the changes written with it are stored", async () => {
  const store = new HeldStore(
    new MemoryStore({
      sweepInterval: 0,
      maxSessionBytes: 200,
    }),
  );
  const v1 =
    (await store.inner.set(KEY, record({ n: "0" }), { version: null }))!;
  const loaded = { record: record({ n: "0" }), version: v1 };
  const writer = new Writer(store);
  const first = writer.submit(KEY, edit(loaded, { a: "1" }));
  const huge = writer.submit(KEY, edit(loaded, { big: "x".repeat(500) }));
  const after = writer.submit(KEY, edit(loaded, { c: "3" }));
  store.release();
  assert.equal((await first).kind, "stored");
  await assert.rejects(huge, SessionTooLargeError);
  assert.equal((await after).kind, "stored");
  assert.deepEqual((await store.inner.get(KEY))?.record.data, {
    n: "0",
    a: "1",
    c: "3",
  });
});
