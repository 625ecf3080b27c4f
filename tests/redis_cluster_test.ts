// RedisStore on a Redis Cluster of three local masters: with a hash tag in
// the prefix, every key is in one slot and the store conforms through both
// clients; without one, the writes that touch several keys reject, writing
// nothing.

import assert from "node:assert/strict";
import { createCluster } from "redis";
import { Cluster } from "ioredis";
import { RedisStore } from "../redis.ts";
import { storeKey } from "../src/id.ts";
import { testSessionStore } from "../testing.ts";
import { makeRecord } from "./helpers.ts";
import { cli, type RedisServer, startRedis } from "./redis_helpers.ts";

/** Three masters with the 16,384 slots split between them, once the cluster is up. */
async function startCluster(): Promise<
  { nodes: RedisServer[]; close(): Promise<void> }
> {
  const nodes: RedisServer[] = [];
  const close = async () => {
    for (const node of nodes) await node.close();
  };
  try {
    for (let i = 0; i < 3; i++) {
      nodes.push(
        await startRedis({
          args: [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
          ],
        }),
      );
    }
    await cli(
      nodes[0].port,
      "--cluster",
      "create",
      ...nodes.map((node) => `127.0.0.1:${node.port}`),
      "--cluster-yes",
    );
    for (const node of nodes) {
      for (let tries = 0;; tries++) {
        if ((await node.cli("CLUSTER", "INFO")).includes("cluster_state:ok")) {
          break;
        }
        if (tries === 500) throw new Error("the cluster did not come up");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    return { nodes, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The port of the master that serves `key`'s slot. */
async function nodeOf(nodes: RedisServer[], key: string): Promise<number> {
  const slot = Number(await nodes[0].cli("CLUSTER", "KEYSLOT", key));
  for (const line of (await nodes[0].cli("CLUSTER", "NODES")).split("\n")) {
    const [, address, , , , , , , ...ranges] = line.split(" ");
    for (const range of ranges) {
      const [from, to = from] = range.split("-").map(Number);
      if (from <= slot && slot <= to) {
        return Number(address.slice(address.indexOf(":") + 1).split("@")[0]);
      }
    }
  }
  throw new Error(`no node serves slot ${slot}`);
}

Deno.test("RedisStore on a Redis Cluster", async (t) => {
  const { nodes, close } = await startCluster();
  const ioredis = new Cluster([{ host: "127.0.0.1", port: nodes[0].port }], {
    lazyConnect: true,
    enableOfflineQueue: false,
    redisOptions: { maxRetriesPerRequest: 0 },
  });
  ioredis.on("error", () => {});
  const nodeRedis = createCluster({
    rootNodes: [{ url: nodes[0].url }],
    defaults: { disableOfflineQueue: true },
  });
  nodeRedis.on("error", () => {});
  try {
    await ioredis.connect();
    await nodeRedis.connect();

    for (
      const [name, client] of [
        ["npm:ioredis Cluster", ioredis],
        ["npm:redis createCluster", nodeRedis],
      ] as const
    ) {
      await t.step(
        `with a hash tag in the prefix, it conforms, through ${name}`,
        async (t) => {
          await testSessionStore(t, {
            create: () =>
              new RedisStore(client, {
                prefix: `{${crypto.randomUUID()}}:`,
              }),
          });
        },
      );
    }

    await t.step(
      "waitForReplicas is refused: WAIT through a cluster client would count nothing",
      () => {
        for (const client of [ioredis, nodeRedis]) {
          assert.throws(
            () =>
              new RedisStore(client, {
                waitForReplicas: { replicas: 1, timeout: 1 },
              }),
            /not a cluster client/,
          );
        }
      },
    );

    await t.step(
      "without a hash tag, a rotation between slots rejects (CROSSSLOT), writing nothing",
      async () => {
        const store = new RedisStore(ioredis, { prefix: "plain:" });
        const oldKey = storeKey("old");
        let key = storeKey("new");
        const slotOf = (key: string) =>
          nodes[0].cli("CLUSTER", "KEYSLOT", `plain:${key}`);
        for (let i = 0; await slotOf(oldKey) === await slotOf(key); i++) {
          key = storeKey(`new${i}`);
        }
        const version = await store.set(oldKey, makeRecord({ a: 1 }), {
          version: null,
        });
        await assert.rejects(
          store.set(key, makeRecord({ a: 1 }), {
            version,
            replaces: oldKey,
            forward: makeRecord({ a: 1 }, { movedTo: key }),
          }),
          /CROSSSLOT/,
        );
        assert.equal((await store.get(oldKey))?.version, version);
        assert.equal(await store.get(key), null);
      },
    );

    await t.step(
      "without a hash tag, a user's session whose set is on another node rejects, writing nothing",
      async () => {
        const store = new RedisStore(ioredis, { prefix: "plain:" });
        const key = storeKey("signed-in");
        const node = await nodeOf(nodes, `plain:${key}`);
        let user = "u0";
        for (
          let i = 1;
          await nodeOf(nodes, `plain:user:${user}`) === node;
          i++
        ) {
          user = `u${i}`;
        }
        await assert.rejects(
          store.set(key, makeRecord({ a: 1 }, { user }), { version: null }),
          /non local key/,
        );
        assert.equal(await store.get(key), null);
      },
    );
  } finally {
    ioredis.disconnect();
    nodeRedis.destroy();
    await close();
  }
});
