// Faults injected under every store: a store that fails, hangs or is slow
// never hands out an empty session in place of the user's, never loses the
// stored one, never hangs a request for good, and keeps the write protocol's
// rules (no lost update, no resurrection).

import assert from "node:assert/strict";
import {
  getSession,
  type SessionRecord,
  type SessionStore,
  type StoredSession,
  withSession,
  type WriteCondition,
} from "../mod.ts";
import { Client, STORES, testApp } from "./app.ts";

type Operation = "get" | "set" | "delete";
/** What an operation does: its normal work, an error, never settle, or first wait. */
type Fault = "ok" | "fail" | "hang" | { delayMs: number };

/** Counts of what was injected over the whole file, for the report. */
const injected = { fail: 0, hang: 0, delay: 0 };

/** A store whose operations fail, hang or wait on demand. */
class FaultyStore implements SessionStore {
  readonly faults: Record<Operation, Fault | (() => Fault)> = {
    get: "ok",
    set: "ok",
    delete: "ok",
  };
  /** The hung calls, released when the test ends. */
  readonly #hung: Array<() => void> = [];

  constructor(readonly inner: SessionStore) {}

  get(key: string): Promise<StoredSession | null> {
    return this.#run("get", () => this.inner.get(key));
  }
  set(
    key: string,
    record: SessionRecord,
    condition: WriteCondition,
  ): Promise<string | null> {
    return this.#run("set", () => this.inner.set(key, record, condition));
  }
  delete(key: string): Promise<void> {
    return this.#run("delete", () => this.inner.delete(key));
  }

  /** Lets the hung calls go, without running them. */
  release(): void {
    for (const release of this.#hung.splice(0)) release();
  }

  async #run<T>(operation: Operation, call: () => Promise<T>): Promise<T> {
    const setting = this.faults[operation];
    const fault = typeof setting === "function" ? setting() : setting;
    if (fault === "fail") {
      injected.fail++;
      throw new Error(`injected: ${operation} failed`);
    }
    if (fault === "hang") {
      injected.hang++;
      await new Promise<void>((resolve) => this.#hung.push(resolve));
      throw new Error(`injected: ${operation} hung`);
    }
    if (fault !== "ok") {
      injected.delay++;
      await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
    }
    return await call();
  }
}

/** A small seeded generator, so that a failing run can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

for (const { name, open } of STORES) {
  Deno.test(`${name} under injected faults`, async (t) => {
    const step = (
      title: string,
      fn: (store: FaultyStore, twin: () => FaultyStore) => Promise<void>,
    ) =>
      t.step(title, async () => {
        const opened = await open();
        const store = new FaultyStore(opened.store);
        const twins: FaultyStore[] = [];
        try {
          await fn(store, () => {
            const twin = new FaultyStore(opened.twin());
            twins.push(twin);
            return twin;
          });
        } finally {
          for (const faulty of [store, ...twins]) faulty.release();
          await opened.close();
        }
      });

    await step(
      "a failing load rejects the request and never hands out an empty session",
      async (store) => {
        const client = new Client(withSession(testApp(), { store }));
        await client.get("/set?user=ram");
        store.faults.get = "fail";
        await assert.rejects(client.get("/set?cart=1"), /injected: get failed/);
        const tolerant = withSession(async (req) => {
          try {
            await getSession(req);
            return new Response("loaded");
          } catch {
            return new Response("unavailable", { status: 503 });
          }
        }, { store });
        const answer = await tolerant(
          new Request("http://127.0.0.1/", {
            headers: { cookie: client.cookie! },
          }),
          {} as Deno.ServeHandlerInfo,
        );
        assert.equal(answer.status, 503);
        assert.equal(answer.headers.get("set-cookie"), null);
        await answer.body?.cancel();
        store.faults.get = "ok";
        assert.deepEqual((await client.get("/data")).data, { user: "ram" });
      },
    );

    await step(
      "a failing save or logout fails the request and leaves the stored session as it was",
      async (store) => {
        const client = new Client(withSession(testApp(), { store }));
        await client.get("/set?user=ram");
        store.faults.set = "fail";
        await assert.rejects(
          client.get("/set?user=eve"),
          /injected: set failed/,
        );
        await assert.rejects(client.get("/rotate?role=admin"), /set failed/);
        // A logout ends the record with a conditional write first.
        await assert.rejects(client.get("/flush"), /injected: set failed/);
        store.faults.set = "ok";
        assert.deepEqual((await client.get("/data")).data, { user: "ram" });
      },
    );

    await step(
      "a logout whose clean-up fails once the session is ended fails the request, and the session stays ended",
      async (store) => {
        const handler = withSession(testApp(), { store, storeTimeout: 0.2 });
        for (
          const [fault, error] of [
            ["fail", /injected: delete failed/],
            ["hang", /delete did not answer within 0\.2 s/],
          ] as const
        ) {
          const client = new Client(handler);
          await client.get("/set?user=ram");
          const cookie = client.cookie;
          store.faults.delete = fault;
          await assert.rejects(client.get("/flush"), error);
          store.faults.delete = "ok";
          store.release();
          const again = new Client(handler);
          again.cookie = cookie;
          const seen = await again.get("/data");
          assert.deepEqual([seen.data, seen.isNew], [{}, true], fault);
        }
      },
    );

    await step(
      "a hung store fails the request after storeTimeout instead of hanging it",
      async (store) => {
        const client = new Client(
          withSession(testApp(), { store, storeTimeout: 0.2 }),
        );
        await client.get("/set?user=ram");
        const calls = [
          ["get", "/set?cart=1"],
          ["set", "/set?cart=1"],
          ["set", "/flush"],
        ] as const;
        for (const [operation, path] of calls) {
          store.faults[operation] = "hang";
          await assert.rejects(
            client.get(path),
            new RegExp(
              `Session store: ${operation} did not answer within 0.2 s \\(storeTimeout\\)`,
            ),
          );
          store.faults[operation] = "ok";
          store.release();
        }
        assert.deepEqual((await client.get("/data")).data, { user: "ram" });
      },
    );

    await step(
      "a slow store call fails past storeTimeout, and completes with storeTimeout null",
      async (store) => {
        const timed = new Client(
          withSession(testApp(), { store, storeTimeout: 0.1 }),
        );
        await timed.get("/set?user=ram");
        store.faults.get = { delayMs: 300 };
        await assert.rejects(timed.get("/data"), /within 0\.1 s/);
        const untimed = timed.tab(
          withSession(testApp(), { store, storeTimeout: null }),
        );
        assert.deepEqual((await untimed.get("/data")).data, { user: "ram" });
        store.faults.get = "ok";
      },
    );

    await step(
      "slow and out-of-order store calls keep every change, across two processes",
      async (store, twin) => {
        const other = twin();
        const jitter = random(name.length * 7919);
        for (const faulty of [store, other]) {
          for (const operation of ["get", "set"] as const) {
            faulty.faults[operation] = () => ({
              delayMs: Math.floor(jitter() * 8),
            });
          }
        }
        const here = withSession(testApp(), { store });
        const there = withSession(testApp(), { store: other });
        const client = new Client(here);
        await client.get("/set?base=0");
        await Promise.all(
          Array.from(
            { length: 24 },
            (_, i) =>
              client.tab(i % 2 === 0 ? here : there).get(`/set?k${i}=${i}`),
          ),
        );
        const data = (await client.get("/data")).data;
        for (let i = 0; i < 24; i++) assert.equal(data[`k${i}`], `${i}`);
      },
    );

    await step(
      "slow store calls never bring back a session logged out meanwhile",
      async (store, twin) => {
        const other = twin();
        const jitter = random(name.length * 104_729);
        for (const faulty of [store, other]) {
          faulty.faults.set = () => ({ delayMs: Math.floor(jitter() * 10) });
        }
        const here = withSession(testApp(), { store });
        const there = withSession(testApp(), { store: other });
        const client = new Client(here);
        await client.get("/set?user=ram");
        const cookie = client.cookie;
        const writes = Array.from(
          { length: 12 },
          (_, i) =>
            client.tab(i % 2 === 0 ? here : there).get(`/set?k${i}=${i}`),
        );
        await client.tab(there).get("/flush");
        await Promise.all(writes);
        const again = new Client(here);
        again.cookie = cookie;
        assert.deepEqual((await again.get("/data")).data, {});
      },
    );
  });
}

Deno.test("faults injected in this file (counted)", () => {
  console.log(
    `failures ${injected.fail}, hangs ${injected.hang}, delays ${injected.delay}`,
  );
  assert.ok(injected.fail > 0 && injected.hang > 0 && injected.delay > 0);
});
