// RedisStore against real redis-server processes, through both clients: the
// conformance suite, what it keeps in Redis (keys, expiry, the user index),
// and what it does when Redis goes away.

import assert from "node:assert/strict";
import { createClient } from "redis";
import { Cluster, Redis } from "ioredis";
import { SessionTooLargeError, withSession } from "../mod.ts";
import { RedisStore } from "../redis.ts";
import { storeKey } from "../src/id.ts";
import { testSessionStore } from "../testing.ts";
import { Client, Pause, testApp } from "./app.ts";
import { makeRecord } from "./helpers.ts";
import {
  ioRedisClient,
  nodeRedisClient,
  type RedisServer,
  startProxy,
  startRedis,
} from "./redis_helpers.ts";

/** A connected client of one library, and how to close it. */
interface Connected {
  client: ConstructorParameters<typeof RedisStore>[0];
  close(): void;
}

/** Both libraries, set up as README says. */
const CLIENTS: ReadonlyArray<
  { name: string; connect(server: RedisServer): Promise<Connected> }
> = [
  {
    name: "npm:redis",
    async connect(server) {
      const client = await nodeRedisClient(server.url);
      return { client, close: () => client.destroy() };
    },
  },
  {
    name: "npm:ioredis",
    async connect(server) {
      const client = await ioRedisClient(server.port);
      return { client, close: () => client.disconnect() };
    },
  },
];

const newKey = () => storeKey(crypto.randomUUID());

for (const { name, connect } of CLIENTS) {
  Deno.test(`RedisStore conforms, through ${name}`, async (t) => {
    await using server = await startRedis();
    const { client, close } = await connect(server);
    try {
      await testSessionStore(t, {
        // One server per test run; a fresh prefix is an empty store.
        create: () =>
          new RedisStore(client, { prefix: `${crypto.randomUUID()}:` }),
      });
    } finally {
      close();
    }
  });
}

Deno.test("RedisStore: what it keeps in Redis", async (t) => {
  await using server = await startRedis();
  const { client, close } = await CLIENTS[0].connect(server);
  const step = (
    title: string,
    fn: (store: RedisStore, prefix: string) => Promise<void>,
  ) =>
    t.step(title, async () => {
      const prefix = `${crypto.randomUUID()}:`;
      await fn(new RedisStore(client, { prefix }), prefix);
    });
  /** The members of a user's sorted set, sorted. */
  const members = async (prefix: string, user: string) =>
    (await server.cli("ZRANGE", `${prefix}user:${user}`, "0", "-1"))
      .split("\n").filter((line) => line !== "").sort();

  try {
    await step(
      "a record lives at prefix + key and expires at its deadline (PXAT)",
      async (store, prefix) => {
        const key = newKey();
        const record = makeRecord({ a: 1 }, {
          expiresAt: Date.now() + 60_000.25,
        });
        await store.set(key, record, { version: null });
        assert.equal(await server.cli("EXISTS", prefix + key), "1");
        assert.equal(
          await server.cli("PEXPIRETIME", prefix + key),
          String(Math.ceil(record.expiresAt)),
        );
        // A forwarding record expires at its own deadline.
        const next = newKey();
        const current = await store.get(key);
        const forward = makeRecord({}, {
          movedTo: next,
          expiresAt: Date.now() + 600_000,
        });
        await store.set(next, makeRecord({ a: 1 }), {
          version: current?.version ?? null,
          replaces: key,
          forward,
        });
        assert.equal(
          await server.cli("PEXPIRETIME", prefix + key),
          String(forward.expiresAt),
        );
      },
    );

    await step(
      "a deadline past 100 years is written without an expiry, and so is its user's set",
      async (store, prefix) => {
        const key = newKey();
        const far = Date.now() + 200 * 365 * 24 * 3_600_000;
        await store.set(
          key,
          makeRecord({ a: 1 }, { expiresAt: far, user: "ram" }),
          { version: null },
        );
        assert.equal(await server.cli("PEXPIRETIME", prefix + key), "-1");
        assert.equal(
          await server.cli("PEXPIRETIME", `${prefix}user:ram`),
          "-1",
        );
        assert.equal((await store.listUser("ram")).length, 1);
      },
    );

    await step(
      "a record past its deadline is gone from Redis at once",
      async (store, prefix) => {
        const key = newKey();
        const past = Date.now() - 1_000;
        const version = await store.set(
          key,
          makeRecord({ a: 1 }, { expiresAt: past, user: "ram" }),
          { version: null },
        );
        assert.equal(typeof version, "string");
        assert.equal(await server.cli("EXISTS", prefix + key), "0");
        assert.deepEqual(await members(prefix, "ram"), []);
      },
    );

    await step(
      "the user index is exact: each write moves, files and unfiles in Redis itself",
      async (store, prefix) => {
        const [a, b, c] = [newKey(), newKey(), newKey()];
        const va = await store.set(a, makeRecord({}, { user: "ram" }), {
          version: null,
        });
        await store.set(b, makeRecord({}, { user: "ram" }), { version: null });
        assert.deepEqual(await members(prefix, "ram"), [a, b].sort());
        // Moved to another user.
        const va2 = await store.set(a, makeRecord({}, { user: "eve" }), {
          version: va,
        });
        assert.deepEqual(await members(prefix, "ram"), [b]);
        assert.deepEqual(await members(prefix, "eve"), [a]);
        // Rotated, leaving a forwarding record: the new key filed, the old not.
        await store.set(c, makeRecord({}, { user: "eve" }), {
          version: va2,
          replaces: a,
          forward: makeRecord({}, { movedTo: c }),
        });
        assert.deepEqual(await members(prefix, "eve"), [c]);
        // Unfiled by a write without a user, and by a delete.
        const vc = (await store.get(c))?.version ?? null;
        await store.set(c, makeRecord({ x: 1 }), { version: vc });
        await store.delete(b);
        assert.deepEqual(await members(prefix, "eve"), []);
        assert.deepEqual(await members(prefix, "ram"), []);
        // An emptied set is no key at all.
        assert.equal(await server.cli("EXISTS", `${prefix}user:ram`), "0");
      },
    );

    await step(
      "a user's set drops entries past their deadline on the next write, and expires with its last entry",
      async (store, prefix) => {
        const stale = newKey();
        await server.cli("ZADD", `${prefix}user:ram`, "1", stale);
        const key = newKey();
        const record = makeRecord({}, { user: "ram" });
        await store.set(key, record, { version: null });
        assert.deepEqual(await members(prefix, "ram"), [key]);
        const later = makeRecord({}, {
          user: "ram",
          expiresAt: record.expiresAt + 1_000,
        });
        await store.set(newKey(), later, { version: null });
        assert.equal(
          await server.cli("PEXPIRETIME", `${prefix}user:ram`),
          String(later.expiresAt),
        );
      },
    );

    await step(
      "a value that is not a record reads as no session",
      async (store, prefix) => {
        const key = newKey();
        for (const value of ["", "x", "0".repeat(32) + "{not json", "{}"]) {
          await server.cli("SET", prefix + key, value);
          assert.equal(await store.get(key), null, JSON.stringify(value));
        }
      },
    );

    await step(
      "scripts flushed from Redis (a restart, a failover) are loaded again",
      async (store) => {
        const key = newKey();
        const v1 = await store.set(key, makeRecord({ n: 1 }), {
          version: null,
        });
        await server.cli("SCRIPT", "FLUSH");
        const v2 = await store.set(key, makeRecord({ n: 2 }), { version: v1 });
        assert.equal(typeof v2, "string");
        await server.cli("SCRIPT", "FLUSH");
        await store.delete(key);
        assert.equal(await store.get(key), null);
        await server.cli("SCRIPT", "FLUSH");
        assert.deepEqual(await store.listUser("ram"), []);
      },
    );

    await step(
      "the raw session id never reaches Redis: every command of a login, a write and a logout",
      async (store, prefix) => {
        const monitor = new Deno.Command("redis-cli", {
          args: ["-p", String(server.port), "MONITOR"],
          stdin: "null",
          stdout: "piped",
          stderr: "null",
        }).spawn();
        const reader = monitor.stdout.pipeThrough(new TextDecoderStream())
          .getReader();
        let seen = "";
        while (!seen.includes("OK")) seen += (await reader.read()).value ?? "";
        const user = new Client(withSession(testApp(), { store }));
        await user.get("/set?cart=apple");
        const ids = [user.id];
        await user.get("/rotate?user=ram");
        ids.push(user.id);
        await user.get("/set?theme=dark");
        await user.get("/flush");
        // The last command, then everything MONITOR printed up to it.
        await server.cli("ECHO", "done");
        while (!seen.includes('"ECHO" "done"')) {
          seen += (await reader.read()).value ?? "";
        }
        monitor.kill();
        await reader.cancel();
        await monitor.status;
        for (const id of ids) {
          assert.ok(seen.includes(prefix + storeKey(id)), "its key was sent");
          assert.ok(!seen.includes(id), "the id itself was not");
        }
      },
    );

    await step(
      "a value of exactly maxSessionBytes is written; one byte more is refused and writes nothing",
      async (_, prefix) => {
        const store = new RedisStore(client, {
          prefix,
          maxSessionBytes: 1_000,
        });
        const key = newKey();
        const empty = makeRecord({ pad: "" }, { user: "ram" });
        // The value: a 32-hex version, the record's JSON, "\n" + the user.
        const overhead = 32 + JSON.stringify(empty).length + "\nram".length;
        const fits = { ...empty, data: { pad: "x".repeat(1_000 - overhead) } };
        const version = await store.set(key, fits, { version: null });
        assert.equal(await server.cli("STRLEN", prefix + key), "1000");
        const over = { ...fits, data: { pad: `${fits.data.pad}é` } };
        await assert.rejects(
          store.set(key, over, { version }),
          (error: Error) =>
            error instanceof SessionTooLargeError &&
            error.size === 1_002 && error.limit === 1_000 &&
            error.message.startsWith(
              "RedisStore: the session is 1002 bytes, over its limit of 1000 bytes",
            ),
        );
        assert.deepEqual(await store.get(key), { record: fits, version });
        // The default is Deno KV's limit, as for every other store.
        const big = makeRecord({ pad: "x".repeat(65_536) });
        await assert.rejects(
          new RedisStore(client, { prefix }).set(newKey(), big, {
            version: null,
          }),
          /over its limit of 65536 bytes/,
        );
      },
    );
  } finally {
    close();
  }
});

Deno.test("RedisStore refuses a client that would make a request wait while Redis is unreachable", () => {
  // Neither connects: a client of either library connects only when told.
  const nodeDefault = createClient({ url: "redis://127.0.0.1:1" });
  assert.throws(() => new RedisStore(nodeDefault), /disableOfflineQueue/);
  const ioDefault = new Redis({ lazyConnect: true });
  assert.throws(() => new RedisStore(ioDefault), /enableOfflineQueue/);
  const ioRetrying = new Redis({
    lazyConnect: true,
    enableOfflineQueue: false,
  });
  assert.throws(() => new RedisStore(ioRetrying), /maxRetriesPerRequest/);
  const nodes = [{ host: "127.0.0.1", port: 1 }];
  assert.throws(
    () => new RedisStore(new Cluster(nodes, { lazyConnect: true })),
    /enableOfflineQueue/,
  );
  assert.throws(
    () =>
      new RedisStore(
        new Cluster(nodes, { lazyConnect: true, enableOfflineQueue: false }),
      ),
    /redisOptions: \{ maxRetriesPerRequest: 0 \}/,
  );
  new RedisStore(
    new Cluster(nodes, {
      lazyConnect: true,
      enableOfflineQueue: false,
      redisOptions: { maxRetriesPerRequest: 0 },
    }),
  );
  new RedisStore(createClient({ disableOfflineQueue: true }));
  new RedisStore(
    new Redis({
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    }),
  );
});

Deno.test("RedisStore rejects invalid arguments", async () => {
  const client = createClient({ disableOfflineQueue: true });
  // Checked before the client is used (this one is not even connected).
  const store = new RedisStore(client);
  const id = "a raw session id, not its digest";
  for (const key of [id, "A".repeat(64), "0".repeat(63), ""]) {
    for (
      const call of [
        () => store.get(key),
        () => store.set(key, makeRecord({}), { version: null }),
        () =>
          store.set(newKey(), makeRecord({}), { version: null, replaces: key }),
        () => store.delete(key),
      ]
    ) {
      await assert.rejects(
        call,
        (error) =>
          error instanceof TypeError &&
          /64 lowercase hex/.test(error.message) &&
          !error.message.includes(id),
      );
    }
  }
  for (const bad of [null, undefined, {}, { get() {} }]) {
    assert.throws(
      () => new RedisStore(bad as unknown as typeof client),
      TypeError,
    );
  }
  assert.throws(
    () => new RedisStore(client, { prefix: 1 as unknown as string }),
    /prefix must be a string/,
  );
  for (const maxSessionBytes of [0, 1.5, -1, NaN, Infinity]) {
    assert.throws(
      () => new RedisStore(client, { maxSessionBytes }),
      /maxSessionBytes must be a whole number of at least 1/,
    );
  }
  for (
    const waitForReplicas of [
      { replicas: 0, timeout: 1 },
      { replicas: 1.5, timeout: 1 },
      { replicas: 1, timeout: 0 },
      { replicas: 1, timeout: -1 },
      { replicas: 1, timeout: Infinity },
      { replicas: 1, timeout: NaN },
    ]
  ) {
    assert.throws(
      () => new RedisStore(client, { waitForReplicas }),
      /waitForReplicas/,
      JSON.stringify(waitForReplicas),
    );
  }
  new RedisStore(client, { waitForReplicas: { replicas: 2, timeout: 0.5 } });
});

/**
 * Sends requests until one gets an answer (the client has reconnected), at
 * most for `ms`; the answer.
 */
async function untilAnswered<T>(request: () => Promise<T>, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await request();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** What {@linkcode rejectsInTime} throws for a promise still pending. */
class Hung extends Error {}

/**
 * Asserts that `promise` rejects, and within `ms`: a promise still pending
 * then fails the assertion instead of hanging the test.
 */
async function rejectsInTime(promise: Promise<unknown>, ms = 10_000) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Hung(`still pending after ${ms} ms`)),
      ms,
    );
  });
  try {
    await assert.rejects(
      Promise.race([promise, hung]),
      (error) => !(error instanceof Hung),
    );
  } finally {
    clearTimeout(timer);
  }
}

for (const { name, connect } of CLIENTS) {
  Deno.test(`RedisStore through ${name}: Redis goes away under a running app, and comes back`, async (t) => {
    // Persisted, so that the sessions outlive a restart.
    await using server = await startRedis({
      args: ["--appendonly", "yes", "--appendfsync", "always"],
    });
    const { client, close } = await connect(server);
    const store = new RedisStore(client, { timeout: 0.5 });
    const pause = new Pause();
    const app = withSession(testApp(pause), { store });
    try {
      await t.step(
        "stopped: requests reject, never an empty session; restarted: they work again",
        async () => {
          const user = new Client(app);
          await user.get("/set?a=1");
          await server.stop();
          await rejectsInTime(user.get("/data"));
          await rejectsInTime(user.get("/set?b=2"));
          await rejectsInTime(new Client(app).get("/set?c=3"));
          await server.start();
          const seen = await untilAnswered(() => user.get("/data"));
          assert.deepEqual(seen.data, { a: "1" });
          await user.get("/set?b=2");
          assert.deepEqual((await user.get("/data")).data, { a: "1", b: "2" });
        },
      );

      await t.step(
        "hung (SIGSTOP): requests reject after the store's timeout; thawed: they work again",
        async () => {
          const user = new Client(app);
          await user.get("/set?a=1");
          server.pause();
          try {
            await rejectsInTime(user.get("/data"));
            await rejectsInTime(user.get("/set?b=2"));
          } finally {
            server.resume();
          }
          const seen = await untilAnswered(() => user.get("/data"));
          assert.equal(seen.data.a, "1");
        },
      );

      await t.step(
        "killed with a write in flight: the write rejects, and the session is as it was once Redis is back",
        async () => {
          const user = new Client(app);
          await user.get("/set?a=1");
          // The request has loaded the session; its write goes to a server
          // that cannot answer, which then dies.
          const { reached, resume } = pause.arm();
          const inFlight = rejectsInTime(user.get("/set?lost=1&gate"));
          await reached;
          server.pause();
          resume();
          await new Promise((resolve) => setTimeout(resolve, 50));
          await server.kill();
          await inFlight;
          await server.start();
          const seen = await untilAnswered(() => user.get("/data"));
          assert.deepEqual(seen.data, { a: "1" });
        },
      );
    } finally {
      close();
    }
  });
}

for (const { name, connect } of CLIENTS) {
  Deno.test(`RedisStore through ${name}: the connection drops after a write ran, before its answer`, async () => {
    await using server = await startRedis();
    await using proxy = startProxy(server.port);
    // The client reaches Redis through the proxy, as over a network.
    const { client, close } = await connect({
      ...server,
      port: proxy.port,
      url: `redis://127.0.0.1:${proxy.port}`,
    });
    try {
      const pause = new Pause();
      const app = withSession(testApp(pause), {
        store: new RedisStore(client, { timeout: 2 }),
      });
      const user = new Client(app);
      await user.get("/set?a=1");
      const { reached, resume } = pause.arm();
      const write = rejectsInTime(user.get("/set?b=2&gate"));
      await reached;
      proxy.hold();
      resume();
      // The script runs in Redis; its answer is lost with the connection.
      const before = await server.cli("INFO", "commandstats");
      for (let tries = 0;; tries++) {
        if (await server.cli("INFO", "commandstats") !== before) break;
        if (tries === 500) throw new Error("the write never reached Redis");
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await proxy.cut();
      await write;
      // The request failed; what it wrote is there, written once, and the
      // client works again once it has reconnected.
      const seen = await untilAnswered(() => user.get("/data"));
      assert.deepEqual(seen.data, { a: "1", b: "2" });
      await user.get("/set?c=3");
      assert.deepEqual((await user.get("/data")).data, {
        a: "1",
        b: "2",
        c: "3",
      });
    } finally {
      close();
    }
  });
}

Deno.test("npm:ioredis sends a command whose answer was lost again once reconnected, unless maxRetriesPerRequest is 0: why RedisStore insists on it", async (t) => {
  await using server = await startRedis();
  await using proxy = startProxy(server.port);
  for (
    const [retries, runs] of [[undefined, "2"], [0, "1"]] as const
  ) {
    await t.step(
      `maxRetriesPerRequest ${
        retries ?? "left at its default (20)"
      }: the command runs ${runs} time(s)`,
      async () => {
        const client = new Redis({
          host: "127.0.0.1",
          port: proxy.port,
          lazyConnect: true,
          enableOfflineQueue: false,
          ...(retries === undefined ? {} : { maxRetriesPerRequest: retries }),
        });
        client.on("error", () => {});
        try {
          await client.connect();
          await client.set("n", "0");
          proxy.hold();
          const answer = client.eval(
            "return redis.call('INCR', KEYS[1])",
            1,
            "n",
          ).then(String, (error: Error) => error.message);
          for (let tries = 0; await server.cli("GET", "n") === "0"; tries++) {
            if (tries === 500) throw new Error("INCR never reached Redis");
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          await proxy.cut();
          const answered = await answer;
          await untilAnswered(() => client.ping());
          assert.equal(await server.cli("GET", "n"), runs);
          if (runs === "1") assert.match(answered, /max retries/);
          else assert.equal(answered, "2", "answered by the second run");
        } finally {
          client.disconnect();
        }
      },
    );
  }
});
