/**
 * The store conformance suite: what every {@linkcode SessionStore} must do for
 * the middleware's guarantees (no lost update, no resurrected session, atomic
 * rotation that forwards the requests still on the old id) to hold.
 *
 * @module
 */

import assert from "node:assert/strict";
import { SessionManager } from "./core.ts";
import { generateId, storeKey } from "./id.ts";
import type { SessionOptions } from "./options.ts";
import { sealerOf } from "./stores/cookie.ts";
import type { SessionData } from "./json.ts";
import {
  isUserIndex,
  type SessionRecord,
  type SessionStore,
  type UserIndex,
  type UserSessionEntry,
} from "./store.ts";

/** How {@linkcode testSessionStore} gets a store to test. */
export interface StoreFactory<S extends SessionStore = SessionStore> {
  /** A fresh, empty store; called once per step. */
  create(): S | Promise<S>;
  /** Releases a store made by `create` (close a database, remove a directory). */
  dispose?(store: S): void | Promise<void>;
}

/** A fresh store key, as the middleware makes them. */
function newKey(): string {
  return storeKey(generateId());
}

/**
 * A record as the middleware writes one, created now and live for an hour,
 * with `extra`'s fields over it.
 */
export function makeRecord(
  data: SessionData = {},
  extra: Partial<SessionRecord> = {},
): SessionRecord {
  const now = Date.now();
  return {
    data,
    createdAt: now,
    lastActiveAt: now,
    absoluteExpiresAt: now + 3_600_000,
    expiresAt: now + 3_600_000,
    browserSession: false,
    ...extra,
  };
}

/** A record as the middleware writes one for a signed-in user. */
function userRecord(user: string, data: SessionData = {}): SessionRecord {
  return makeRecord({ userId: user, ...data }, { user });
}

/** A rotation's forwarding record to `key`, as the middleware writes one. */
function forwardTo(key: string): SessionRecord {
  return makeRecord({}, { movedTo: key });
}

/** The keys filed under `user`, sorted. */
async function filed(store: UserIndex, user: string): Promise<string[]> {
  return (await store.listUser(user)).map((entry) => entry.key).sort();
}

/**
 * Runs the conformance suite as steps of the current test, each on a fresh
 * store from `factory`. The steps of the per-user capability
 * ({@linkcode UserIndex}) run when the store has `listUser`, and show as
 * ignored otherwise.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "@denokit/session";
 * import { testSessionStore } from "@denokit/session/testing";
 *
 * Deno.test("MemoryStore conforms", async (t) => {
 *   await testSessionStore(t, {
 *     create: () => new MemoryStore(),
 *     dispose: (store) => store.close(),
 *   });
 * });
 * ```
 */
export async function testSessionStore<S extends SessionStore>(
  t: Deno.TestContext,
  factory: StoreFactory<S>,
): Promise<void> {
  const probe = await factory.create();
  const indexed = isUserIndex(probe);
  const clientSide = sealerOf(probe) !== null;
  await factory.dispose?.(probe);
  const run = async (fn: (store: SessionStore) => Promise<void>) => {
    const store = await factory.create();
    try {
      await fn(store);
    } finally {
      await factory.dispose?.(store);
    }
  };
  // A client-side store (CookieStore) keeps no records under keys: the
  // record steps do not apply to it, and say so.
  const step = (name: string, fn: (store: SessionStore) => Promise<void>) =>
    t.step({
      name: clientSide
        ? `${name} (skipped: a client-side store keeps no records)`
        : name,
      ignore: clientSide,
      fn: () => run(fn),
    });

  await step("get of an unknown key is null", async (store) => {
    assert.equal(await store.get(newKey()), null);
  });

  await step(
    "set with version null creates; get returns it with that version",
    async (store) => {
      const key = newKey();
      const record = makeRecord({ user: "ram", n: 1 });
      const version = await store.set(key, record, { version: null });
      assert.equal(typeof version, "string");
      assert.deepEqual(await store.get(key), { record, version });
    },
  );

  await step(
    "set with version null fails when a record exists, writing nothing",
    async (store) => {
      const key = newKey();
      const first = makeRecord({ n: 1 });
      const version = await store.set(key, first, { version: null });
      assert.equal(
        await store.set(key, makeRecord({ n: 2 }), { version: null }),
        null,
      );
      assert.deepEqual(await store.get(key), { record: first, version });
    },
  );

  await step(
    "set with the current version replaces the record under a new version",
    async (store) => {
      const key = newKey();
      const v1 = await store.set(key, makeRecord({ n: 1 }), { version: null });
      const second = makeRecord({ n: 2 });
      const v2 = await store.set(key, second, { version: v1 });
      assert.equal(typeof v2, "string");
      assert.notEqual(v2, v1);
      assert.deepEqual(await store.get(key), { record: second, version: v2 });
    },
  );

  await step(
    "set with a stale version fails, writing nothing",
    async (store) => {
      const key = newKey();
      const v1 = await store.set(key, makeRecord({ n: 1 }), { version: null });
      const second = makeRecord({ n: 2 });
      const v2 = await store.set(key, second, { version: v1 });
      assert.equal(
        await store.set(key, makeRecord({ n: 3 }), { version: v1 }),
        null,
      );
      assert.deepEqual(await store.get(key), { record: second, version: v2 });
    },
  );

  await step(
    "set with a version fails once the record is deleted: no resurrection",
    async (store) => {
      const key = newKey();
      const v1 = await store.set(key, makeRecord({ n: 1 }), { version: null });
      await store.delete(key);
      assert.equal(
        await store.set(key, makeRecord({ n: 2 }), { version: v1 }),
        null,
      );
      assert.equal(await store.get(key), null);
    },
  );

  await step(
    "delete removes the record; deleting a missing key is harmless",
    async (store) => {
      const key = newKey();
      const other = newKey();
      await store.set(key, makeRecord({ n: 1 }), { version: null });
      const otherRecord = makeRecord({ n: 2 });
      const otherVersion = await store.set(other, otherRecord, {
        version: null,
      });
      await store.delete(key);
      await store.delete(key);
      await store.delete(newKey());
      assert.equal(await store.get(key), null);
      assert.deepEqual(await store.get(other), {
        record: otherRecord,
        version: otherVersion,
      });
    },
  );

  await step(
    "replaces: the new key is written and the old deleted together",
    async (store) => {
      const oldKey = newKey();
      const key = newKey();
      const v1 = await store.set(oldKey, makeRecord({ user: "ram" }), {
        version: null,
      });
      const rotated = makeRecord({ user: "ram", role: "admin" });
      const version = await store.set(key, rotated, {
        version: v1,
        replaces: oldKey,
      });
      assert.equal(typeof version, "string");
      assert.equal(await store.get(oldKey), null);
      assert.deepEqual(await store.get(key), { record: rotated, version });
    },
  );

  await step(
    "replaces with forward: the new key is written, and the forwarding record takes the old one's place",
    async (store) => {
      const oldKey = newKey();
      const key = newKey();
      const v1 = await store.set(oldKey, makeRecord({ user: "ram" }), {
        version: null,
      });
      const rotated = makeRecord({ user: "ram", role: "admin" });
      const forward = forwardTo(key);
      const version = await store.set(key, rotated, {
        version: v1,
        replaces: oldKey,
        forward,
      });
      assert.equal(typeof version, "string");
      assert.deepEqual(await store.get(key), { record: rotated, version });
      const left = await store.get(oldKey);
      assert.deepEqual(left?.record, forward);
      assert.notEqual(left?.version, v1, "a new version under the old key");
      // The forwarding record is a record like any other: it can be
      // replaced conditionally, and deleted.
      assert.equal(
        await store.set(oldKey, makeRecord({}), { version: v1 }),
        null,
      );
      await store.delete(oldKey);
      assert.equal(await store.get(oldKey), null);
    },
  );

  await step(
    "replaces fails when a record exists under the new key, writing nothing",
    async (store) => {
      const oldKey = newKey();
      const key = newKey();
      const old = makeRecord({ n: 1 });
      const v1 = await store.set(oldKey, old, { version: null });
      const taken = makeRecord({ n: 2 });
      const v2 = await store.set(key, taken, { version: null });
      assert.equal(
        await store.set(key, makeRecord({ n: 3 }), {
          version: v1,
          replaces: oldKey,
          forward: forwardTo(key),
        }),
        null,
      );
      assert.deepEqual(await store.get(oldKey), { record: old, version: v1 });
      assert.deepEqual(await store.get(key), { record: taken, version: v2 });
    },
  );

  await step("replaces with a stale version writes nothing", async (store) => {
    const oldKey = newKey();
    const key = newKey();
    const v1 = await store.set(oldKey, makeRecord({ n: 1 }), { version: null });
    const latest = makeRecord({ n: 2 });
    const v2 = await store.set(oldKey, latest, { version: v1 });
    assert.equal(
      await store.set(key, makeRecord({ n: 3 }), {
        version: v1,
        replaces: oldKey,
      }),
      null,
    );
    assert.equal(await store.get(key), null);
    assert.deepEqual(await store.get(oldKey), { record: latest, version: v2 });
  });

  await step("replaces a deleted record writes nothing", async (store) => {
    const oldKey = newKey();
    const key = newKey();
    const v1 = await store.set(oldKey, makeRecord({ n: 1 }), { version: null });
    await store.delete(oldKey);
    assert.equal(
      await store.set(key, makeRecord({ n: 2 }), {
        version: v1,
        replaces: oldKey,
      }),
      null,
    );
    assert.equal(await store.get(key), null);
  });

  await step(
    "of concurrent writes on one version, exactly one wins",
    async (store) => {
      const key = newKey();
      const v1 = await store.set(key, makeRecord({ n: 0 }), { version: null });
      const writers = Array.from(
        { length: 8 },
        (_, i) => makeRecord({ n: i + 1 }),
      );
      const results = await Promise.all(
        writers.map((record) => store.set(key, record, { version: v1 })),
      );
      const winners = results.flatMap((version, i) =>
        version === null ? [] : [i]
      );
      assert.equal(winners.length, 1, `winners: ${winners.length}`);
      const winner = winners[0];
      assert.deepEqual(await store.get(key), {
        record: writers[winner],
        version: results[winner],
      });
    },
  );

  await step(
    "of concurrent creations of one key, exactly one wins",
    async (store) => {
      const key = newKey();
      const results = await Promise.all(
        Array.from(
          { length: 8 },
          (_, i) => store.set(key, makeRecord({ n: i }), { version: null }),
        ),
      );
      assert.equal(
        results.filter((version) => version !== null).length,
        1,
      );
    },
  );

  await step(
    "records are copies: changing one given or returned changes nothing stored",
    async (store) => {
      const key = newKey();
      const record = makeRecord({ cart: ["apple"] });
      const version = await store.set(key, record, { version: null });
      (record.data.cart as string[]).push("pear");
      const read = await store.get(key);
      assert.deepEqual(read?.record.data, { cart: ["apple"] });
      (read!.record.data.cart as string[]).push("plum");
      assert.deepEqual(await store.get(key), {
        record: makeCopy(record, ["apple"]),
        version,
      });
    },
  );

  await step(
    "data round-trips: unicode, nesting, edge values, 32 KiB",
    async (store) => {
      const key = newKey();
      const record = makeRecord(Object.fromEntries([
        ["", ""],
        ["ключ", "значение ✓ 🍰"],
        // An own "__proto__" key, as JSON.parse makes one.
        ["__proto__", { nested: [1, -0.5, 1e300, true, null, { d: [[]] }] }],
        ["quote", 'a"b\\c\n\u0000'],
        ["big", "x".repeat(32 * 1024)],
      ]));
      const version = await store.set(key, record, { version: null });
      const read = await store.get(key);
      assert.deepEqual(read, { record, version });
      assert.ok(Object.hasOwn(read!.record.data, "__proto__"));
    },
  );

  await step(
    "every field round-trips, movedTo and user included",
    async (store) => {
      const key = newKey();
      const record = makeRecord({ userId: 7 }, {
        user: "7",
        movedTo: newKey(),
      });
      const version = await store.set(key, record, { version: null });
      assert.deepEqual(await store.get(key), { record, version });
    },
  );

  await step(
    "timestamps and the browser-session flag round-trip",
    async (store) => {
      const key = newKey();
      const record: SessionRecord = {
        data: { a: 1 },
        createdAt: 1_700_000_000_123,
        lastActiveAt: 1_700_000_100_456,
        absoluteExpiresAt: Date.now() + 7_200_000,
        expiresAt: Date.now() + 3_600_000,
        browserSession: true,
      };
      const version = await store.set(key, record, { version: null });
      assert.deepEqual(await store.get(key), { record, version });
    },
  );

  // The per-user capability: run when the store files records by user. A
  // write names the user of the record it replaces (`previousUser`), as
  // the middleware does.
  const userStep = (
    name: string,
    fn: (store: SessionStore & UserIndex) => Promise<void>,
  ) =>
    t.step({
      name: `user index: ${name}`,
      ignore: !indexed,
      fn: () =>
        run(async (store) => {
          if (!isUserIndex(store)) throw new Error("listUser is missing");
          await fn(store);
        }),
    });

  await userStep(
    "a record written with a user is filed under it, as get returns it",
    async (store) => {
      const key = newKey();
      const record = userRecord("ram");
      const version = await store.set(key, record, { version: null });
      const entries: UserSessionEntry[] = await store.listUser("ram");
      assert.deepEqual(entries, [{ key, stored: { record, version } }]);
      assert.deepEqual(entries[0].stored, await store.get(key));
      assert.deepEqual(await store.listUser("eve"), []);
    },
  );

  await userStep(
    "every session of a user is filed; other users' are apart",
    async (store) => {
      const ram = [newKey(), newKey(), newKey()];
      const eve = newKey();
      for (const key of ram) {
        await store.set(key, userRecord("ram"), { version: null });
      }
      await store.set(eve, userRecord("eve"), { version: null });
      await store.set(newKey(), makeRecord({ anonymous: true }), {
        version: null,
      });
      assert.deepEqual(await filed(store, "ram"), [...ram].sort());
      assert.deepEqual(await filed(store, "eve"), [eve]);
      await store.delete(ram[0]);
      assert.deepEqual(await filed(store, "eve"), [eve]);
      assert.deepEqual(await filed(store, "ram"), ram.slice(1).sort());
    },
  );

  await userStep(
    "an update keeps the filing, with the new record and version",
    async (store) => {
      const key = newKey();
      const v1 = await store.set(key, userRecord("ram", { n: 1 }), {
        version: null,
      });
      const second = userRecord("ram", { n: 2 });
      const v2 = await store.set(key, second, {
        version: v1,
        previousUser: "ram",
      });
      assert.deepEqual(await store.listUser("ram"), [
        { key, stored: { record: second, version: v2 } },
      ]);
    },
  );

  await userStep(
    "a change of user moves the filing",
    async (store) => {
      const key = newKey();
      const v1 = await store.set(key, userRecord("ram"), { version: null });
      const record = userRecord("eve");
      const v2 = await store.set(key, record, {
        version: v1,
        previousUser: "ram",
      });
      assert.deepEqual(await store.listUser("ram"), []);
      assert.deepEqual(await store.listUser("eve"), [
        { key, stored: { record, version: v2 } },
      ]);
    },
  );

  await userStep(
    "a write without a user unfiles the record",
    async (store) => {
      const key = newKey();
      const v1 = await store.set(key, userRecord("ram"), { version: null });
      await store.set(key, makeRecord({ n: 1 }), {
        version: v1,
        previousUser: "ram",
      });
      assert.deepEqual(await store.listUser("ram"), []);
    },
  );

  await userStep("delete unfiles the record", async (store) => {
    const key = newKey();
    const other = newKey();
    await store.set(key, userRecord("ram"), { version: null });
    await store.set(other, userRecord("ram"), { version: null });
    await store.delete(key);
    assert.deepEqual(await filed(store, "ram"), [other]);
    await store.delete(other);
    assert.deepEqual(await store.listUser("ram"), []);
  });

  await userStep(
    "rotation files the new key, and the forwarding record nowhere",
    async (store) => {
      const oldKey = newKey();
      const key = newKey();
      const v1 = await store.set(oldKey, userRecord("ram"), { version: null });
      const rotated = userRecord("ram", { role: "admin" });
      const version = await store.set(key, rotated, {
        version: v1,
        replaces: oldKey,
        forward: forwardTo(key),
        previousUser: "ram",
      });
      assert.deepEqual(await store.listUser("ram"), [
        { key, stored: { record: rotated, version } },
      ]);
      // Without a forwarding record, the same.
      const third = newKey();
      await store.set(third, userRecord("ram"), {
        version,
        replaces: key,
        previousUser: "ram",
      });
      assert.deepEqual(await filed(store, "ram"), [third]);
    },
  );

  await userStep(
    "a login: rotation into a user files the new key under that user",
    async (store) => {
      const oldKey = newKey();
      const key = newKey();
      const v1 = await store.set(oldKey, makeRecord({ cart: ["apple"] }), {
        version: null,
      });
      const v2 = await store.set(key, userRecord("ram"), {
        version: v1,
        replaces: oldKey,
        forward: forwardTo(key),
      });
      assert.deepEqual(await filed(store, "ram"), [key]);
      // And a rotation that changes the user moves the filing.
      const next = newKey();
      await store.set(next, userRecord("eve"), {
        version: v2,
        replaces: key,
        forward: forwardTo(next),
        previousUser: "ram",
      });
      assert.deepEqual(await store.listUser("ram"), []);
      assert.deepEqual(await filed(store, "eve"), [next]);
    },
  );

  await userStep(
    "a conditional write that fails changes no filing",
    async (store) => {
      const key = newKey();
      const v1 = await store.set(key, userRecord("ram", { n: 1 }), {
        version: null,
      });
      const latest = userRecord("ram", { n: 2 });
      const v2 = await store.set(key, latest, { version: v1 });
      const kept = [{ key, stored: { record: latest, version: v2 } }];
      // A stale version, a creation over an existing record.
      assert.equal(
        await store.set(key, userRecord("eve"), { version: v1 }),
        null,
      );
      assert.equal(
        await store.set(key, userRecord("eve"), { version: null }),
        null,
      );
      // A rotation onto a key that is taken, and a stale rotation.
      const taken = newKey();
      await store.set(taken, makeRecord({ n: 3 }), { version: null });
      assert.equal(
        await store.set(taken, userRecord("eve"), {
          version: v2,
          replaces: key,
          forward: forwardTo(taken),
        }),
        null,
      );
      const fresh = newKey();
      assert.equal(
        await store.set(fresh, userRecord("eve"), {
          version: v1,
          replaces: key,
          forward: forwardTo(fresh),
        }),
        null,
      );
      // A write on a deleted record.
      const gone = newKey();
      const v3 = await store.set(gone, userRecord("ram"), { version: null });
      await store.delete(gone);
      assert.equal(
        await store.set(gone, userRecord("ram"), { version: v3 }),
        null,
      );
      assert.deepEqual(await store.listUser("ram"), kept);
      assert.deepEqual(await store.listUser("eve"), []);
    },
  );

  await userStep(
    "any string names a user: no two users share a filing",
    async (store) => {
      const users = ["a", "a:b", "a/../b", "A", "user:a", "é 🍰", " a"];
      const keys = new Map<string, string>();
      for (const user of users) {
        const key = newKey();
        keys.set(user, key);
        await store.set(key, userRecord(user), { version: null });
      }
      for (const user of users) {
        const entries = await store.listUser(user);
        assert.deepEqual(entries.map((entry) => entry.key), [keys.get(user)]);
        assert.equal(entries[0].stored.record.user, user);
      }
    },
  );

  await testBehaviour(t, run, clientSide);
}

/**
 * The behaviour of the middleware on a store, request by request, with an
 * injected clock: what every store must give its users, client-side ones
 * included (a step that such a store cannot honour says so, and why).
 */
async function testBehaviour(
  t: Deno.TestContext,
  run: (fn: (store: SessionStore) => Promise<void>) => Promise<void>,
  clientSide: boolean,
): Promise<void> {
  const behaviour = (
    name: string,
    fn: (store: SessionStore) => Promise<void>,
    notOnTheClient?: string,
  ) =>
    t.step({
      name: clientSide && notOnTheClient !== undefined
        ? `behaviour: ${name} (skipped: ${notOnTheClient})`
        : `behaviour: ${name}`,
      ignore: clientSide && notOnTheClient !== undefined,
      fn: () => run(fn),
    });
  const REPLAY =
    "a client-side store cannot revoke a cookie it handed out: a copy opens its data until its deadline";

  await behaviour(
    "a value set on one request is read on the next",
    async (store) => {
      const browser = new Browser(store);
      await browser.send("/set?user=ram");
      assert.deepEqual(await browser.data(), { user: "ram" });
      assert.deepEqual(await new Browser(store).data(), {});
    },
  );

  await behaviour(
    "a tampered, truncated or foreign value is a new, empty session, never an error",
    async (store) => {
      const browser = new Browser(store);
      await browser.send("/set?user=ram");
      const value = browser.value!;
      for (
        const forged of [
          value.slice(0, -1),
          value.slice(0, -2) + (value.endsWith("A") ? "BB" : "AA"),
          value.slice(1),
          "x".repeat(value.length),
          "",
        ]
      ) {
        const stranger = new Browser(store);
        stranger.value = forged;
        const response = await stranger.send("/data");
        assert.equal(response.status, 200);
        assert.deepEqual(await stranger.data(), {});
      }
    },
  );

  await behaviour(
    "rotate keeps the data under a new value",
    async (store) => {
      const browser = new Browser(store);
      await browser.send("/set?user=ram");
      const old = browser.value;
      await browser.send("/rotate");
      assert.notEqual(browser.value, old);
      assert.deepEqual(await browser.data(), { user: "ram" });
    },
  );

  await behaviour(
    "after rotate, the old value opens nothing",
    async (store) => {
      const browser = new Browser(store);
      await browser.send("/set?user=ram");
      const old = browser.value;
      await browser.send("/rotate");
      const stale = new Browser(store);
      stale.value = old;
      assert.deepEqual(await stale.data(), {});
    },
    REPLAY,
  );

  await behaviour("flush clears the cookie and the data", async (store) => {
    const browser = new Browser(store);
    await browser.send("/set?user=ram");
    const response = await browser.send("/flush");
    assert.match(response.headers.get("set-cookie") ?? "", /Max-Age=0/);
    assert.equal(browser.value, null);
    assert.deepEqual(await browser.data(), {});
  });

  await behaviour(
    "after flush, a copy of the old cookie opens nothing",
    async (store) => {
      const browser = new Browser(store);
      await browser.send("/set?user=ram");
      const old = browser.value;
      await browser.send("/flush");
      const copy = new Browser(store);
      copy.value = old;
      assert.deepEqual(await copy.data(), {});
    },
    REPLAY,
  );

  await behaviour(
    "the absolute timeout ends the session, whatever the activity, and says so",
    async (store) => {
      const browser = new Browser(store, { absoluteTimeout: 60 });
      await browser.send("/set?user=ram");
      browser.clock += 59_000;
      assert.deepEqual(await browser.data(), { user: "ram" });
      browser.clock += 1_000;
      const seen = await browser.seen();
      assert.deepEqual([seen.data, seen.wasExpired], [{}, true]);
    },
  );

  await behaviour(
    "reads keep a session alive against its idle timeout; none for that long ends it",
    async (store) => {
      const browser = new Browser(store, {
        idleTimeout: 60,
        touchInterval: 10,
      });
      await browser.send("/set?user=ram");
      for (let i = 0; i < 12; i++) {
        browser.clock += 49_000; // idle - touch - 1 s
        assert.deepEqual(await browser.data(), { user: "ram" }, `read ${i}`);
      }
      browser.clock += 60_000;
      const seen = await browser.seen();
      assert.deepEqual([seen.data, seen.wasExpired], [{}, true]);
    },
  );

  await behaviour(
    "setExpiry: seconds and a Date give the cookie that lifetime, 0 one until the browser closes",
    async (store) => {
      const browser = new Browser(store);
      await browser.send("/set?user=ram");
      const seconds = await browser.send("/expire?seconds=600");
      assert.match(seconds.headers.get("set-cookie")!, /Max-Age=600;/);
      const closing = await browser.send("/expire?seconds=0");
      assert.doesNotMatch(closing.headers.get("set-cookie")!, /Max-Age/);
      browser.clock += 1_000;
      assert.deepEqual(await browser.data(), { user: "ram" });
      await browser.send(`/expire?at=${browser.clock - 1}`);
      assert.deepEqual(await browser.data(), {});
    },
  );

  await behaviour(
    "changes of two overlapping requests to different keys both persist",
    async (store) => {
      const browser = new Browser(store);
      await browser.send("/set?base=0");
      const tab = new Browser(store, {}, browser);
      tab.value = browser.value;
      const hold = Promise.withResolvers<void>();
      const reached = Promise.withResolvers<void>();
      const slow = browser.send("/set?a=1", async () => {
        reached.resolve();
        await hold.promise;
      });
      await reached.promise;
      await tab.send("/set?b=2");
      hold.resolve();
      await slow;
      assert.deepEqual(await browser.data(), { base: "0", a: "1", b: "2" });
    },
    "the requests cannot be merged: the last response's cookie wins",
  );
}

/**
 * A browser of a small app on a store, for the behaviour steps: it keeps the
 * session cookie's value, and drives the app's clock.
 */
class Browser {
  value: string | null = null;
  clock = Date.now();
  readonly #handler: (
    req: Request,
    hold?: () => Promise<void>,
  ) => Promise<Response>;

  constructor(
    store: SessionStore,
    options: SessionOptions = {},
    shared?: Browser,
  ) {
    const session = new SessionManager({
      store,
      ...options,
      now: () => (shared ?? this).clock,
    });
    this.#handler = async (req, hold) => {
      const scope = session.begin(req);
      const current = await scope.load();
      const url = new URL(req.url);
      const seconds = url.searchParams.get("seconds");
      const at = url.searchParams.get("at");
      switch (url.pathname) {
        case "/set":
          for (const [key, value] of url.searchParams) current.set(key, value);
          break;
        case "/rotate":
          await current.rotate();
          break;
        case "/flush":
          await current.flush();
          break;
        case "/expire":
          current.setExpiry(
            seconds !== null ? Number(seconds) : new Date(Number(at)),
          );
          break;
      }
      await hold?.();
      return await scope.commit(Response.json({
        data: Object.fromEntries(current.entries()),
        wasExpired: current.wasExpired,
      }));
    };
  }

  async send(path: string, hold?: () => Promise<void>): Promise<Response> {
    const headers = this.value === null
      ? undefined
      : { cookie: `sessionid=${this.value}` };
    const response = await this.#handler(
      new Request(`http://127.0.0.1${path}`, { headers }),
      hold,
    );
    const setCookie = response.headers.get("set-cookie");
    if (setCookie !== null) {
      const value = setCookie.slice(
        setCookie.indexOf("=") + 1,
        setCookie.indexOf(";"),
      );
      this.value = value === "" ? null : value;
    }
    return response;
  }

  async seen(): Promise<
    { data: Record<string, unknown>; wasExpired: boolean }
  > {
    return await (await this.send("/data")).json();
  }

  async data(): Promise<Record<string, unknown>> {
    return (await this.seen()).data;
  }
}

function makeCopy(record: SessionRecord, cart: string[]): SessionRecord {
  return { ...record, data: { cart } };
}
