// RedisStore on a primary with a replica: what a failover (the replica
// promoted with REPLICAOF NO ONE, the app pointed at it) keeps and loses,
// without and with waitForReplicas.

import assert from "node:assert/strict";
import { withSession } from "../mod.ts";
import { RedisStore, type RedisStoreOptions } from "../redis.ts";
import { testSessionStore } from "../testing.ts";
import { Client, testApp } from "./app.ts";
import {
  nodeRedisClient,
  type RedisServer,
  startRedis,
} from "./redis_helpers.ts";

/**
 * Waits until `primary`'s replica has acknowledged a write: a `SET` and a
 * `WAIT` on one connection (a `WAIT` of its own would return at once: it
 * waits for the writes of its connection). The first acknowledgement after
 * a sync can take up to a second; the tests' own writes come after it.
 */
async function caughtUp(primary: RedisServer) {
  const child = new Deno.Command("redis-cli", {
    args: ["-p", String(primary.port)],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("SET synced 1\nWAIT 1 5000\n"));
  await writer.close();
  const output = new TextDecoder().decode((await child.output()).stdout);
  assert.deepEqual(output.trim().split("\n"), ["OK", "1"], "acknowledged");
}

/** A primary and a replica of it, in sync. */
async function replicated(): Promise<{
  primary: RedisServer;
  replica: RedisServer;
  close(): Promise<void>;
}> {
  // A replica's first sync starts at once, not after Redis's 5 s default
  // wait for more replicas to share it.
  const primary = await startRedis({
    args: ["--repl-diskless-sync-delay", "0"],
  });
  const replica = await startRedis({
    args: ["--replicaof", "127.0.0.1", String(primary.port)],
  });
  await caughtUp(primary);
  return {
    primary,
    replica,
    close: async () => {
      await replica.close();
      await primary.close();
    },
  };
}

/** The app on the store of `server`; `close` ends its client. */
async function appOn(server: RedisServer, options: RedisStoreOptions = {}) {
  const client = await nodeRedisClient(server.url);
  const handler = withSession(testApp(), {
    store: new RedisStore(client, options),
  });
  return { handler, close: () => client.destroy() };
}

/**
 * Cuts the replica off its primary (pointed at a port nobody listens on):
 * what the primary writes from now on does not reach it.
 */
async function cutOff(replica: RedisServer): Promise<void> {
  await replica.cli("REPLICAOF", "127.0.0.1", "1");
}

/** The primary dies; the replica is promoted, as Sentinel would do it. */
async function failOver(primary: RedisServer, replica: RedisServer) {
  await primary.kill();
  await replica.cli("REPLICAOF", "NO", "ONE");
}

const WAIT = { replicas: 1, timeout: 1 };

type App = Awaited<ReturnType<typeof appOn>>;

/** A failover as a test sees it: the app on the primary, then on the promoted replica. */
interface Failover {
  primary: RedisServer;
  replica: RedisServer;
  /** The app on the primary, with the store `options` of the step. */
  before: App["handler"];
  /** Closes the app on the primary, kills it, promotes the replica, and gives the app on it. */
  failOver(): Promise<App["handler"]>;
}

/** A step on a fresh primary and replica, every client and server closed after it. */
function failoverStep(
  t: Deno.TestContext,
  title: string,
  options: RedisStoreOptions,
  fn: (failover: Failover) => Promise<void>,
) {
  return t.step(title, async () => {
    const { primary, replica, close } = await replicated();
    const apps: App[] = [await appOn(primary, options)];
    try {
      await fn({
        primary,
        replica,
        before: apps[0].handler,
        failOver: async () => {
          // The app moves to the replica: its client to the primary closes
          // first, or it would wait to reconnect to the dead primary on a
          // timer that destroy() does not cancel.
          apps[0].close();
          await failOver(primary, replica);
          apps.push(await appOn(replica));
          return apps[1].handler;
        },
      });
    } finally {
      for (const app of apps) app.close();
      await close();
    }
  });
}

Deno.test("RedisStore with waitForReplicas conforms on a primary with a replica", async (t) => {
  const { primary, close } = await replicated();
  const client = await nodeRedisClient(primary.url);
  try {
    await testSessionStore(t, {
      create: () =>
        new RedisStore(client, {
          prefix: `${crypto.randomUUID()}:`,
          waitForReplicas: { replicas: 1, timeout: 2 },
        }),
    });
  } finally {
    client.destroy();
    await close();
  }
});

Deno.test("RedisStore: a failover to the replica", async (t) => {
  await failoverStep(
    t,
    "without waitForReplicas, a logout the primary acknowledged but did not replicate is undone: the session is back",
    {},
    async ({ before, primary, replica, failOver }) => {
      const user = new Client(before);
      await user.get("/set?user=ram");
      const cookie = user.cookie;
      await caughtUp(primary);
      await cutOff(replica);
      const logout = await user.get("/flush");
      assert.match(logout.setCookie ?? "", /Max-Age=0/, "logged out");
      const after = await failOver();
      const again = new Client(after);
      again.cookie = cookie;
      assert.deepEqual((await again.get("/data")).data, { user: "ram" });
    },
  );

  await failoverStep(
    t,
    "without waitForReplicas, a login's rotation is undone: the old id opens the session again, the new one nothing",
    {},
    async ({ before, primary, replica, failOver }) => {
      const user = new Client(before);
      await user.get("/set?cart=apple");
      const oldCookie = user.cookie;
      await caughtUp(primary);
      await cutOff(replica);
      await user.get("/rotate?user=ram");
      assert.notEqual(user.cookie, oldCookie);
      const after = await failOver();
      const old = new Client(after);
      old.cookie = oldCookie;
      assert.deepEqual((await old.get("/data")).data, { cart: "apple" });
      const rotated = user.tab(after);
      assert.deepEqual((await rotated.get("/data")).data, {});
    },
  );

  await failoverStep(
    t,
    "with waitForReplicas, a logout the replica could not acknowledge rejects: it may be undone, and the user was told",
    { waitForReplicas: WAIT },
    async ({ before, replica, failOver }) => {
      const user = new Client(before);
      await user.get("/set?user=ram");
      const cookie = user.cookie;
      await cutOff(replica);
      await assert.rejects(user.get("/flush"), /waitForReplicas/);
      const after = await failOver();
      const again = new Client(after);
      again.cookie = cookie;
      assert.deepEqual((await again.get("/data")).data, { user: "ram" });
    },
  );

  await failoverStep(
    t,
    "with waitForReplicas, an acknowledged logout survives the failover",
    { waitForReplicas: WAIT },
    async ({ before, failOver }) => {
      const user = new Client(before);
      await user.get("/set?user=ram");
      const cookie = user.cookie;
      const logout = await user.get("/flush");
      assert.match(logout.setCookie ?? "", /Max-Age=0/);
      const after = await failOver();
      const late = new Client(after);
      late.cookie = cookie;
      const seen = await late.get("/data");
      assert.deepEqual([seen.data, seen.isNew], [{}, true]);
    },
  );

  await failoverStep(
    t,
    "with waitForReplicas, an acknowledged login survives the failover: the new id opens the session, the old one nothing",
    { waitForReplicas: WAIT },
    async ({ before, failOver }) => {
      const user = new Client(before);
      await user.get("/set?cart=apple");
      const oldCookie = user.cookie;
      await user.get("/rotate?user=ram");
      const after = await failOver();
      const rotated = user.tab(after);
      assert.deepEqual((await rotated.get("/data")).data, {
        cart: "apple",
        user: "ram",
      });
      const old = new Client(after);
      old.cookie = oldCookie;
      assert.deepEqual((await old.get("/data")).data, {});
    },
  );

  await t.step(
    "a store pointed at a replica rejects writes (READONLY), never reporting them done",
    async () => {
      const { replica, close } = await replicated();
      const app = await appOn(replica);
      try {
        await assert.rejects(
          new Client(app.handler).get("/set?a=1"),
          /READONLY/,
        );
      } finally {
        app.close();
        await close();
      }
    },
  );
});
