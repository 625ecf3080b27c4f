import assert from "node:assert/strict";
import {
  getSession,
  KvStore,
  openKv,
  type SessionStore,
  SessionTooLargeError,
  withSession,
} from "../mod.ts";
import { testSessionStore } from "../testing.ts";
import { SpyKv, tempKv } from "./kv_helpers.ts";
import { deadlines, makeRecord } from "./helpers.ts";
import { Client, Pause, testApp } from "./app.ts";
import { FORWARD_MS } from "../src/write.ts";

const HEX_KEY = "0".repeat(64);

Deno.test("KvStore passes the conformance suite on :memory:", async (t) => {
  // As README shows it: one database, a fresh prefix (an empty store) a step.
  using kv = await Deno.openKv(":memory:");
  await testSessionStore(t, {
    create: () => new KvStore(kv, { prefix: ["test", crypto.randomUUID()] }),
  });
});

Deno.test("KvStore passes the conformance suite on a file", async (t) => {
  const open = new Map<SessionStore, () => Promise<void>>();
  await testSessionStore(t, {
    create: async () => {
      const { kv, dispose } = await tempKv();
      const store = new KvStore(kv);
      open.set(store, dispose);
      return store;
    },
    dispose: (store) => open.get(store)!(),
  });
});

Deno.test("KvStore keeps a record as UTF-8 JSON bytes under [...prefix, key]", async () => {
  using kv = await Deno.openKv(":memory:");
  const record = makeRecord({ name: "Рам 🍰" });
  await new KvStore(kv).set(HEX_KEY, record, { version: null });
  await new KvStore(kv, { prefix: ["app", 2] }).set(HEX_KEY, record, {
    version: null,
  });
  for (const key of [["sessions", HEX_KEY], ["app", 2, HEX_KEY]]) {
    const entry = await kv.get(key);
    assert.ok(entry.value instanceof Uint8Array);
    assert.deepEqual(
      JSON.parse(new TextDecoder().decode(entry.value)),
      record,
    );
  }
});

Deno.test("the README's kv.list snippet counts live sessions", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new KvStore(kv);
  await store.set("a".repeat(64), makeRecord({ n: 1 }), { version: null });
  await store.set("b".repeat(64), makeRecord({ n: 2 }), { version: null });
  await store.set(
    "c".repeat(64),
    makeRecord({ n: 3 }, deadlines(Date.now() - 1)),
    {
      version: null,
    },
  );

  // The snippet, as the README shows it:
  let live = 0;
  for await (const entry of kv.list<Uint8Array>({ prefix: ["sessions"] })) {
    const record = JSON.parse(new TextDecoder().decode(entry.value));
    if (record.expiresAt > Date.now()) live++;
  }

  assert.equal(live, 2);
});

Deno.test("KvStore: a value that is not a record reads as no session", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new KvStore(kv);
  const values: unknown[] = [
    "text",
    42,
    { data: {} },
    new Uint8Array([0xff, 0xfe, 0x00]), // not UTF-8
    new TextEncoder().encode("not json"),
    new TextEncoder().encode(JSON.stringify({ ...makeRecord({}), data: [] })),
  ];
  for (const value of values) {
    await kv.set(["sessions", HEX_KEY], value);
    assert.equal(await store.get(HEX_KEY), null, String(value));
  }
});

Deno.test("KvStore: the value limit", async (t) => {
  await t.step(
    "a record of exactly 65,536 bytes is written; one byte more is refused, naming both sizes",
    async () => {
      using kv = await Deno.openKv(":memory:");
      const store = new KvStore(kv);
      const empty = makeRecord({ pad: "" });
      const overhead = new TextEncoder().encode(JSON.stringify(empty)).length;
      const fits = makeRecord({ pad: "x".repeat(65_536 - overhead) });
      fits.expiresAt = fits.absoluteExpiresAt = empty.expiresAt;
      const version = await store.set(HEX_KEY, fits, { version: null });
      assert.deepEqual(await store.get(HEX_KEY), { record: fits, version });

      const over = { ...fits, data: { pad: `${fits.data.pad}x` } };
      await assert.rejects(
        store.set(HEX_KEY, over, { version }),
        (error: Error) => {
          assert.ok(error instanceof SessionTooLargeError);
          assert.ok(error instanceof RangeError);
          assert.equal(
            error.message,
            `KvStore (Deno KV's value limit): the session is 65537 bytes, over its limit of 65536 bytes; largest keys: "pad" (${
              65_536 - overhead + 3
            } bytes)`,
          );
          assert.deepEqual([error.size, error.limit], [65_537, 65_536]);
          return true;
        },
      );
      assert.deepEqual(await store.get(HEX_KEY), { record: fits, version });
    },
  );

  await t.step(
    "a session saved over the limit rejects the request and leaves the stored one as it was",
    async () => {
      using kv = await Deno.openKv(":memory:");
      const handler = withSession(testApp(), { store: new KvStore(kv) });
      const client = new Client(handler);
      await client.get("/set?a=1");
      const before = await kv.get(["sessions", client.key]);

      const big = "x".repeat(70_000);
      await assert.rejects(
        client.get(`/set?big=${big}`),
        /the session is \d+ bytes, over its limit of 65536 bytes; largest keys: "big" \(70002 bytes\), "a" \(3 bytes\)/,
      );
      assert.deepEqual(await kv.get(["sessions", client.key]), before);

      // Rotation too: neither the new key written nor the old one deleted.
      await assert.rejects(
        client.get(`/rotate?big=${big}`),
        /the session is \d+ bytes, over its limit of 65536 bytes/,
      );
      assert.deepEqual(await kv.get(["sessions", client.key]), before);
      assert.equal(
        (await Array.fromAsync(kv.list({ prefix: ["sessions"] }))).length,
        1,
      );
      assert.deepEqual((await client.get("/data")).data, { a: "1" });
    },
  );
});

Deno.test("KvStore: the prefix", async (t) => {
  await t.step("the default is ['sessions']", async () => {
    using kv = await Deno.openKv(":memory:");
    await new KvStore(kv).set(HEX_KEY, makeRecord({}), { version: null });
    assert.notEqual((await kv.get(["sessions", HEX_KEY])).versionstamp, null);
  });

  await t.step(
    "is copied: changing the array given changes nothing",
    async () => {
      using kv = await Deno.openKv(":memory:");
      const bytes = new Uint8Array([1, 2]);
      const prefix: Deno.KvKeyPart[] = ["app", bytes];
      const store = new KvStore(kv, { prefix });
      prefix.push("other");
      bytes[0] = 9;
      await store.set(HEX_KEY, makeRecord({}), { version: null });
      assert.notEqual(
        (await kv.get(["app", new Uint8Array([1, 2]), HEX_KEY])).versionstamp,
        null,
      );
    },
  );

  await t.step("rejects what is not a key, with a TypeError", async () => {
    using kv = await Deno.openKv(":memory:");
    const bad: unknown[] = ["sessions", {}, [null], [undefined], [{}], [[
      "nested",
    ]], [Symbol("s")]];
    for (const prefix of bad) {
      assert.throws(
        () => new KvStore(kv, { prefix: prefix as Deno.KvKey }),
        (error: Error) =>
          error instanceof TypeError && /^KvStore: prefix/.test(error.message),
        Deno.inspect(prefix),
      );
    }
  });

  // Each part's size in KV's key encoding, as measured against KV: the longest
  // prefix accepted must give keys that KV writes, one byte more must throw.
  const parts: Array<[Deno.KvKeyPart, number]> = [
    ["sessions", 10],
    ["a\0b", 6],
    ["é", 4],
    ["🍰", 6],
    [new Uint8Array([0, 0]), 6],
    [new Uint8Array([1, 2, 3]), 5],
    [1.5, 9],
    [0n, 1],
    [255n, 2],
    [256n, 3],
    [-1n, 2],
    [2n ** 64n, 11],
    [-(2n ** 64n), 11],
    [true, 1],
  ];
  await t.step(
    "the longest accepted prefix gives keys KV writes; one byte more is a TypeError, as KV would refuse it",
    async () => {
      using kv = await Deno.openKv(":memory:");
      for (const [part, size] of parts) {
        const room = 2048 - 66 - size - 2; // a filler string part's length
        const longest: Deno.KvKey = [part, "x".repeat(room)];
        const store = new KvStore(kv, { prefix: longest });
        const oldKey = "1".repeat(64);
        const v1 = await store.set(oldKey, makeRecord({ n: 1 }), {
          version: null,
        });
        const v2 = await store.set(HEX_KEY, makeRecord({ n: 2 }), {
          version: v1,
          replaces: oldKey,
        });
        assert.equal(typeof v2, "string", String(part));
        assert.equal((await store.get(HEX_KEY))?.version, v2);
        await store.delete(HEX_KEY);

        const tooLong: Deno.KvKey = [part, "x".repeat(room + 1)];
        assert.throws(
          () => new KvStore(kv, { prefix: tooLong }),
          (error: Error) =>
            error instanceof TypeError &&
            error.message.includes("2048-byte key limit") &&
            error.message.includes("at most 1982 bytes"),
          String(part),
        );
        await assert.rejects(
          kv.set([...tooLong, HEX_KEY], 1),
          /Key too large for write \(max 2048 bytes\)/,
        );
      }
    },
  );

  await t.step("the first argument must be an open Deno.Kv", async () => {
    const pending = Deno.openKv(":memory:");
    assert.throws(
      () => new KvStore(pending as unknown as Deno.Kv),
      /must be an open Deno.Kv, as `await Deno.openKv\(...\)` gives/,
    );
    (await pending).close();
    assert.throws(() => new KvStore(null as unknown as Deno.Kv), TypeError);
  });
});

Deno.test("KvStore: expireIn", async (t) => {
  await t.step(
    "every write (create, update, touch, rotation) expires the key at the record's expiresAt",
    async () => {
      using real = await Deno.openKv(":memory:");
      const spy = new SpyKv(real);
      let now = Date.now();
      const handler = withSession(testApp(), {
        store: new KvStore(spy.kv),
        idleTimeout: 600,
        touchInterval: 60,
        now: () => now,
      });
      const client = new Client(handler);
      await client.get("/set?a=1"); // create
      now += 1_000;
      await client.get("/set?b=2"); // update
      now += 60_000;
      await client.get("/data"); // touch
      now += 1_000;
      await client.get("/rotate?user=ram"); // rotation
      const sets = spy.written.flatMap((commit) => commit.sets);
      // The rotation also leaves a forwarding record under the old key.
      const [forward, ...others] = sets.filter(({ record }) =>
        record.movedTo !== undefined
      );
      assert.equal(others.length, 0);
      assert.equal(forward.record.expiresAt, now + FORWARD_MS);
      const sessions = sets.filter((set) => set !== forward);
      assert.equal(sessions.length, 4);
      for (const { record } of sessions) {
        assert.equal(record.expiresAt, record.lastActiveAt + 600_000);
      }
      for (const { expireIn, record, at } of sets) {
        // Never shorter than the time left (KV must not drop a live
        // session), and only the rounding and the call's own time longer.
        assert.ok(expireIn! >= record.expiresAt - at, `${expireIn}`);
        assert.ok(expireIn! <= record.expiresAt - at + 50, `${expireIn}`);
      }
    },
  );

  await t.step(
    "KV collects the record once its expiresAt has passed",
    async () => {
      const { kv, path, dispose } = await tempKv();
      try {
        const store = new KvStore(kv);
        await store.set(
          "a".repeat(64),
          makeRecord({}, deadlines(Date.now() + 30)),
          {
            version: null,
          },
        );
        await store.set("b".repeat(64), makeRecord({}), { version: null });
        await new Promise((resolve) => setTimeout(resolve, 60));
        kv.close();
        // SQLite-backed KV sweeps expired keys when a database is opened (and
        // about once a minute after): reopen rather than wait.
        using reopened = await Deno.openKv(path);
        const again = new KvStore(reopened);
        let polls = 0;
        while (await again.get("a".repeat(64)) !== null && polls < 100) {
          polls++;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        assert.equal(await again.get("a".repeat(64)), null);
        assert.notEqual(await again.get("b".repeat(64)), null);
      } finally {
        await dispose();
      }
    },
  );

  await t.step(
    "a deadline already past is written with expireIn 1 ms, never 0 or negative",
    async () => {
      using real = await Deno.openKv(":memory:");
      const spy = new SpyKv(real);
      const store = new KvStore(spy.kv);
      const version = await store.set(
        HEX_KEY,
        makeRecord({}, deadlines(Date.now() - 5_000)),
        { version: null },
      );
      assert.equal(typeof version, "string");
      assert.equal(spy.written[0].sets[0].expireIn, 1);
    },
  );

  await t.step(
    "a deadline over 100 years away is written without expireIn (KV refuses one past year 262143)",
    async () => {
      // (The middleware gives no session more than 400 days; a store can be
      // handed any record.)
      using real = await Deno.openKv(":memory:");
      const spy = new SpyKv(real);
      const store = new KvStore(spy.kv);
      await store.set(HEX_KEY, makeRecord({ a: 1 }), { version: null });
      const farAway = makeRecord({ a: 1 }, deadlines(8.64e15)); // the last Date there is
      const version = await store.set("1".repeat(64), farAway, {
        version: null,
      });
      const [near, far] = spy.written.flatMap((commit) => commit.sets);
      assert.equal(typeof near.expireIn, "number");
      assert.equal(far.expireIn, undefined);
      assert.deepEqual(await store.get("1".repeat(64)), {
        record: farAway,
        version,
      });
    },
  );
});

Deno.test("a session past its deadline is not served while KV still returns it", async (t) => {
  for (
    const [name, options, step] of [
      ["idle", { idleTimeout: 60 }, 60_000],
      ["absolute", { absoluteTimeout: 120 }, 120_000],
    ] as const
  ) {
    await t.step(`${name} timeout`, async () => {
      using kv = await Deno.openKv(":memory:");
      let now = Date.now();
      const client = new Client(
        withSession(testApp(), {
          ...options,
          store: new KvStore(kv),
          now: () => now,
        }),
      );
      const t0 = now;
      await client.get("/set?a=1");
      const entry = await kv.get<Uint8Array>(["sessions", client.key]);
      const record = JSON.parse(new TextDecoder().decode(entry.value!));
      assert.equal(record.expiresAt, t0 + step);
      if (name === "absolute") {
        // (With an idle timeout this read would touch and move the deadline.)
        now = t0 + step - 1;
        assert.deepEqual((await client.get("/data")).data, { a: "1" });
      }
      now = t0 + step;
      // Only milliseconds passed for KV: the key is still there.
      assert.notEqual((await kv.get(["sessions", client.key])).value, null);
      const seen = await client.get("/data");
      assert.deepEqual(seen, {
        data: {},
        isNew: true,
        wasExpired: true,
        setCookie: seen.setCookie,
      });
    });
  }
});

Deno.test("touch-on-read: at most one KV write per touchInterval, never over a real write", async (t) => {
  await t.step("reads write only when touchInterval has passed", async () => {
    using real = await Deno.openKv(":memory:");
    const spy = new SpyKv(real);
    const t0 = Date.now();
    let now = t0;
    const client = new Client(
      withSession(testApp(), {
        store: new KvStore(spy.kv),
        idleTimeout: 600,
        touchInterval: 60,
        now: () => now,
      }),
    );
    await client.get("/set?a=1");
    const reads: Array<[number, number]> = [
      // [seconds since creation, KV commits expected after the read]
      [1, 1],
      [30, 1],
      [59.999, 1],
      [60, 2], // touch
      [60.5, 2],
      [100, 2],
      [119.999, 2],
      [120, 3], // touch
      [700, 4], // past the first idle deadline: alive thanks to the touches
    ];
    for (const [seconds, commits] of reads) {
      now = t0 + seconds * 1000;
      const committed = spy.commits.length;
      const before = (await real.get(["sessions", client.key])).versionstamp;
      const seen = await client.get("/data");
      assert.deepEqual(seen.data, { a: "1" }, `at ${seconds} s`);
      assert.equal(spy.commits.length, commits, `at ${seconds} s`);
      // The versionstamp moves exactly when the store committed.
      const after = (await real.get(["sessions", client.key])).versionstamp;
      assert.equal(after !== before, commits > committed, `at ${seconds} s`);
    }
    assert.ok(spy.commits.every((commit) => commit.result === true));
    const touches = spy.commits.slice(1).map((commit) => commit.sets[0]);
    assert.deepEqual(
      touches.map(({ record }) => record.lastActiveAt - t0),
      [60_000, 120_000, 700_000],
    );
  });

  await t.step("a touch gives way to a write that came first", async () => {
    using real = await Deno.openKv(":memory:");
    const spy = new SpyKv(real);
    let now = Date.now();
    const pause = new Pause();
    const handler = withSession(testApp(pause), {
      store: new KvStore(spy.kv),
      idleTimeout: 600,
      touchInterval: 60,
      now: () => now,
    });
    const reader = new Client(handler);
    await reader.get("/set?a=1");
    const writer = new Client(handler);
    writer.cookie = reader.cookie;
    now += 61_000; // a touch is due

    const paused = pause.arm();
    const reading = reader.get("/data?gate"); // loads, then waits
    await paused.reached;
    await writer.get("/set?b=2"); // loads after the reader, writes first
    const written = (await real.get(["sessions", reader.key])).versionstamp;
    paused.resume();
    await reading;

    assert.deepEqual(
      spy.commits.map((commit) => commit.result),
      [true, true, false], // create, the write, the touch refused
    );
    const entry = await real.get(["sessions", reader.key]);
    assert.equal(entry.versionstamp, written);
    assert.deepEqual((await reader.get("/data")).data, { a: "1", b: "2" });
  });
});

Deno.test("concurrent saves on KV merge onto the latest record", async (t) => {
  await t.step("two requests changing different keys both land", async () => {
    using real = await Deno.openKv(":memory:");
    const spy = new SpyKv(real);
    const pause = new Pause();
    const handler = withSession(testApp(pause), { store: new KvStore(spy.kv) });
    const first = new Client(handler);
    await first.get("/set?a=1&old=x");
    const second = new Client(handler);
    second.cookie = first.cookie;

    const paused = pause.arm();
    const saving = first.get("/set?b=2&gate");
    await paused.reached;
    await second.get("/delete?old");
    await second.get("/set?c=3");
    paused.resume();
    await saving;

    assert.deepEqual(
      spy.commits.map((commit) => commit.result),
      [true, true, true, false, true], // the paused save lost once, then merged
    );
    assert.deepEqual((await first.get("/data")).data, {
      a: "1",
      b: "2",
      c: "3",
    });
  });

  await t.step(
    "a rotation that lost a race merges, and is still one atomic write",
    async () => {
      using real = await Deno.openKv(":memory:");
      const spy = new SpyKv(real);
      const pause = new Pause();
      const handler = withSession(testApp(pause), {
        store: new KvStore(spy.kv),
      });
      const user = new Client(handler);
      await user.get("/set?cart=apple");
      const oldKey = user.key;
      const tab = new Client(handler);
      tab.cookie = user.cookie;

      const paused = pause.arm();
      const login = user.get("/rotate?user=ram&gate");
      await paused.reached;
      await tab.get("/set?theme=dark");
      paused.resume();
      await login;

      assert.notEqual(user.key, oldKey);
      const attempts = spy.commits.slice(2);
      assert.deepEqual(attempts.map((commit) => commit.result), [false, true]);
      for (const commit of attempts) {
        assert.deepEqual(commit.checks.map((check) => check.key), [
          ["sessions", oldKey],
          ["sessions", user.key],
        ]);
        // The old record is replaced, in the same commit, by one that only
        // points to the new key.
        assert.deepEqual(commit.deletes, []);
        assert.deepEqual(commit.sets.map((set) => set.key), [
          ["sessions", oldKey],
          ["sessions", user.key],
        ]);
        assert.deepEqual(commit.sets[0].record.data, {});
        assert.equal(commit.sets[0].record.movedTo, user.key);
      }
      const stale = new Client(handler);
      stale.cookie = tab.cookie;
      assert.deepEqual(await stale.get("/data"), {
        data: {},
        isNew: true,
        wasExpired: false,
        setCookie:
          "sessionid=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax",
      });
      assert.deepEqual((await user.get("/data")).data, {
        cart: "apple",
        theme: "dark",
        user: "ram",
      });
    },
  );

  await t.step(
    "a save that loses every race to another process fails loudly within conflictTimeout",
    async () => {
      using kv = await Deno.openKv(":memory:");
      const kvStore = new KvStore(kv);
      let rivals = 0;
      // Another request writes the session just before each of this one's
      // writes.
      const store: SessionStore = {
        get: (key) => kvStore.get(key),
        delete: (key) => kvStore.delete(key),
        set: async (key, record, condition) => {
          const latest = await kvStore.get(key);
          if (latest !== null && rivals < 100) {
            rivals++;
            const data = { ...latest.record.data, rival: rivals };
            await kvStore.set(key, { ...latest.record, data }, {
              version: latest.version,
            });
          }
          return kvStore.set(key, record, condition);
        },
      };
      const client = new Client(withSession(testApp(), { store: kvStore }));
      await client.get("/set?a=1");
      const contested = new Client(
        withSession(testApp(), { store, conflictTimeout: 0.2 }),
      );
      contested.cookie = client.cookie;
      await assert.rejects(
        contested.get("/set?b=2"),
        /Session not saved: for 0.2 s every write lost a race with another process/,
      );
      assert.ok(rivals > 5 && rivals < 100, `${rivals} rival writes`);
      assert.deepEqual((await client.get("/data")).data, {
        a: "1",
        rival: rivals,
      });
    },
  );
});

Deno.test("KvStore retries 'database is locked', a bounded number of times", async (t) => {
  await t.step(
    "a few locked commits, then the write goes through",
    async () => {
      using real = await Deno.openKv(":memory:");
      const spy = new SpyKv(real);
      const store = new KvStore(spy.kv);
      spy.lockedCommits = 3;
      const version = await store.set(HEX_KEY, makeRecord({ n: 1 }), {
        version: null,
      });
      assert.deepEqual(
        spy.commits.map((commit) => commit.result),
        ["locked", "locked", "locked", true],
      );
      assert.equal((await store.get(HEX_KEY))?.version, version);
    },
  );

  await t.step(
    "locked every time: rejects after 10 attempts, under a second",
    async () => {
      using real = await Deno.openKv(":memory:");
      const spy = new SpyKv(real);
      const store = new KvStore(spy.kv);
      spy.lockedCommits = Infinity;
      const started = performance.now();
      await assert.rejects(
        store.set(HEX_KEY, makeRecord({}), { version: null }),
        (error: Error) => {
          assert.match(
            error.message,
            /^KvStore: Deno KV reported "database is locked" 10 times in a row; nothing was written$/,
          );
          assert.ok(error.cause instanceof TypeError);
          return true;
        },
      );
      assert.ok(performance.now() - started < 1_000);
      assert.equal(spy.commits.length, 10);
      assert.equal(await store.get(HEX_KEY), null);
    },
  );
});

/**
 * Runs `fn` with `Deno.openKv` replaced by one that throws each error of
 * `failures` in turn, then opens `:memory:`; resolves to the paths it was
 * called with.
 */
async function withFailingOpens(
  failures: Error[],
  fn: () => Promise<void>,
): Promise<(string | undefined)[]> {
  const original = Object.getOwnPropertyDescriptor(Deno, "openKv");
  assert.ok(original);
  const realOpen = Deno.openKv;
  const paths: (string | undefined)[] = [];
  Object.defineProperty(Deno, "openKv", {
    configurable: true,
    value: (path?: string) => {
      paths.push(path);
      const failure = failures.shift();
      return failure === undefined
        ? realOpen(":memory:")
        : Promise.reject(failure);
    },
  });
  try {
    await fn();
  } finally {
    Object.defineProperty(Deno, "openKv", original);
  }
  return paths;
}

Deno.test("openKv tries a locked open again, a bounded number of times", async (t) => {
  await t.step("locked a few times, then the database opens", async () => {
    const paths = await withFailingOpens(
      Array.from({ length: 3 }, () => new Error("database is locked")),
      async () => {
        using kv = await openKv("./sessions.kv");
        const store = new KvStore(kv);
        await store.set(HEX_KEY, makeRecord({ n: 1 }), { version: null });
        assert.deepEqual((await store.get(HEX_KEY))?.record.data, { n: 1 });
      },
    );
    assert.deepEqual(paths, Array(4).fill("./sessions.kv"));
  });

  await t.step(
    "locked every time: rejects after 10 attempts, under a second",
    async () => {
      const started = performance.now();
      const paths = await withFailingOpens(
        Array.from({ length: 20 }, () => new Error("database is locked")),
        async () => {
          await assert.rejects(openKv("./sessions.kv"), (error: Error) => {
            assert.equal(
              error.message,
              'openKv: Deno KV reported "database is locked" 10 times in a row; nothing was opened',
            );
            assert.ok(error.cause instanceof Error);
            return true;
          });
        },
      );
      assert.ok(performance.now() - started < 1_000);
      assert.equal(paths.length, 10);
    },
  );

  await t.step("any other failure rejects at once", async () => {
    const denied = new Deno.errors.NotCapable("Requires read access");
    const paths = await withFailingOpens([denied], async () => {
      await assert.rejects(
        openKv("./sessions.kv"),
        (error) => error === denied,
      );
    });
    assert.equal(paths.length, 1);
  });

  await t.step(
    "no path opens the default database, as Deno.openKv()",
    async () => {
      const paths = await withFailingOpens([], async () => {
        using _kv = await openKv();
      });
      assert.deepEqual(paths, [undefined]);
    },
  );
});

Deno.test("a failing KV is an error, never an empty session", async (t) => {
  await t.step(
    "every method of a store on a closed Deno.Kv rejects",
    async () => {
      const kv = await Deno.openKv(":memory:");
      const store = new KvStore(kv);
      const version = await store.set(HEX_KEY, makeRecord({}), {
        version: null,
      });
      kv.close();
      await assert.rejects(store.get(HEX_KEY), Deno.errors.BadResource);
      await assert.rejects(
        store.set(HEX_KEY, makeRecord({}), { version }),
        Deno.errors.BadResource,
      );
      await assert.rejects(store.delete(HEX_KEY), Deno.errors.BadResource);
    },
  );

  await t.step(
    "a request on a closed Kv fails, and the session is intact afterwards",
    async () => {
      const { kv, path, dispose } = await tempKv();
      try {
        const client = new Client(
          withSession(testApp(), { store: new KvStore(kv) }),
        );
        await client.get("/set?user=ram");
        kv.close();
        await assert.rejects(client.get("/data"), Deno.errors.BadResource);

        // A handler that catches the failure answers without any cookie.
        const tolerant = withSession(async (req) => {
          try {
            await getSession(req);
            return new Response("ok");
          } catch {
            return new Response("unavailable", { status: 503 });
          }
        }, { store: new KvStore(kv) });
        const response = await tolerant(
          new Request("http://127.0.0.1/", {
            headers: { cookie: client.cookie! },
          }),
          {} as Deno.ServeHandlerInfo,
        );
        assert.equal(response.status, 503);
        assert.equal(response.headers.get("set-cookie"), null);
        await response.body?.cancel();

        using reopened = await Deno.openKv(path);
        const again = new Client(
          withSession(testApp(), { store: new KvStore(reopened) }),
        );
        again.cookie = client.cookie;
        assert.deepEqual((await again.get("/data")).data, { user: "ram" });
      } finally {
        await dispose();
      }
    },
  );

  await t.step(
    "a Kv closed between load and save fails the request, writing nothing",
    async () => {
      const { kv, path, dispose } = await tempKv();
      try {
        const store = new KvStore(kv);
        const client = new Client(withSession(testApp(), { store }));
        await client.get("/set?user=ram");
        const closing = new Client(withSession(async (req) => {
          const session = await getSession(req);
          session.set("user", "someone else");
          kv.close();
          return new Response("{}");
        }, { store }));
        closing.cookie = client.cookie;
        await assert.rejects(closing.get("/"), Deno.errors.BadResource);

        using reopened = await Deno.openKv(path);
        const again = new Client(
          withSession(testApp(), { store: new KvStore(reopened) }),
        );
        again.cookie = client.cookie;
        assert.deepEqual((await again.get("/data")).data, { user: "ram" });
      } finally {
        await dispose();
      }
    },
  );
});
