// Load over real HTTP on 127.0.0.1, a server process per store: 10,000
// sessions over 50 connections (50 requests in flight, on connections the
// fetch client keeps alive), each created with one write and changed with a
// second, then every one read back: all there. And past MemoryStore's bound:
// the store never holds more than maxSessions, and the server's heap stays
// flat while four times that many sessions come and go.

import assert from "node:assert/strict";
import {
  type Answer,
  type ExampleServer,
  send,
  startSessionServer,
  type Stats,
  stats,
} from "./example_server.ts";
import { startRedis } from "./redis_helpers.ts";

const SESSIONS = 10_000;
const CONNECTIONS = 50;
const MIB = 2 ** 20;

/**
 * Runs `task(i)` for i in [from, to), `CONNECTIONS` at a time; the answers
 * in order, and the rate they came at.
 */
async function inParallel(
  from: number,
  to: number,
  task: (i: number) => Promise<Answer>,
): Promise<{ answers: Answer[]; perSecond: number }> {
  const answers: Answer[] = new Array(to - from);
  let next = from;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < to) {
        const i = next++;
        answers[i - from] = await task(i);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { answers, perSecond: Math.round((to - from) / seconds) };
}

function assertAllOk(answers: Answer[], what: string) {
  const failed = answers.filter((answer) => answer.status !== 200);
  assert.deepEqual(failed.slice(0, 3), [], `${failed.length} ${what} failed`);
}

/** A server of `store` in a temporary place, stopped (its stderr empty) and removed after `fn`. */
async function withServer(
  store: string,
  args: string[],
  fn: (server: ExampleServer) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: `load_${store}_` });
  const path = store === "kv"
    ? `${dir}/sessions.kv`
    : store === "file"
    ? dir
    : "";
  // A full collection before /stats measures, so that the heap it reports
  // is what the server holds.
  await using redis = store === "redis" ? await startRedis() : null;
  const server = await startSessionServer(store, path, {
    redisUrl: redis?.url,
    args,
    flags: ["--v8-flags=--expose-gc"],
  });
  try {
    await fn(server);
  } finally {
    const log = await server.stop();
    await Deno.remove(dir, { recursive: true });
    assert.equal(log, "", log);
  }
}

const mebibytes = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;

for (const store of ["memory", "kv", "file", "redis"]) {
  Deno.test(`load over HTTP, ${store} store: ${SESSIONS} sessions over ${CONNECTIONS} connections, each created and changed, every change kept`, async () => {
    await withServer(store, [], async (server) => {
      const created = await inParallel(
        0,
        SESSIONS,
        (i) => send(`${server.url}/set?n=${i}`, null),
      );
      assertAllOk(created.answers, "creations");
      const cookies = created.answers.map(({ cookie }, i) => {
        assert.notEqual(cookie, null, `session ${i} sent its cookie`);
        return cookie!;
      });
      assert.equal(new Set(cookies).size, SESSIONS, "every session its own");

      const changed = await inParallel(
        0,
        SESSIONS,
        (i) => send(`${server.url}/set?m=${i}`, cookies[i]),
      );
      assertAllOk(changed.answers, "changes");

      const read = await inParallel(
        0,
        SESSIONS,
        (i) => send(`${server.url}/data`, cookies[i]),
      );
      assertAllOk(read.answers, "reads");
      const lost = read.answers.filter(({ data }, i) =>
        data.n !== `${i}` || data.m !== `${i}`
      );
      assert.deepEqual(lost.slice(0, 3), [], `${lost.length} sessions lost`);

      const after = await stats(server);
      // One write per change, none retried: each session had one writer.
      assert.equal(after.sets, 2 * SESSIONS);
      assert.equal(after.deletes, 0);
      if (after.size !== null) assert.equal(after.size, SESSIONS);
      console.log(
        `${store}: ${
          3 * SESSIONS
        } requests held, all 200, every change present; created ${created.perSecond}/s, changed ${changed.perSecond}/s, read ${read.perSecond}/s; ${after.sets} store writes, ${after.gets} reads; ${after.connections} client connections; server heap ${
          mebibytes(after.memory.heapUsed)
        }, RSS ${mebibytes(after.memory.rss)}`,
      );
    });
  });
}

Deno.test(
  `load over HTTP past MemoryStore's bound: ${
    4 * SESSIONS
  } sessions into maxSessions 1000 over ${CONNECTIONS} connections, the store never holds more and the heap stays flat`,
  async () => {
    const MAX = 1000;
    const TOTAL = 4 * SESSIONS;
    const BATCH = TOTAL / 10;
    await withServer(
      "memory",
      ["--max-sessions", String(MAX)],
      async (server) => {
        const samples: Stats[] = [];
        let first: string | null = null;
        let last: string | null = null;
        let requests = 0;
        let rate = 0;
        for (let from = 0; from < TOTAL; from += BATCH) {
          const { answers, perSecond } = await inParallel(
            from,
            from + BATCH,
            (i) => send(`${server.url}/set?n=${i}`, null),
          );
          assertAllOk(answers, "creations");
          requests += answers.length;
          rate = Math.max(rate, perSecond);
          first ??= answers[0].cookie;
          last = answers.at(-1)!.cookie;
          const sample = await stats(server);
          assert.ok(sample.size! <= MAX, `${sample.size} sessions held`);
          samples.push(sample);
        }
        assert.equal(samples.at(-1)!.size, MAX, "full, not emptied");
        // Evicted sessions are gone, and the newest are there.
        assert.deepEqual((await send(`${server.url}/data`, first)).data, {});
        assert.deepEqual((await send(`${server.url}/data`, last)).data, {
          n: `${TOTAL - 1}`,
        });
        // After a full collection the heap holds what the server keeps: past
        // the bound from the first sample on, it must not grow with the
        // sessions that came and went (36,000 more of them, several MiB if
        // they were kept).
        const heaps = samples.map((s) => s.memory.heapUsed);
        const growth = heaps.at(-1)! - heaps[0];
        assert.ok(growth < MIB, `the heap grew by ${mebibytes(growth)}`);
        const rss = samples.map((s) => s.memory.rss);
        assert.ok(
          Math.max(...rss) < 256 * MIB,
          `RSS ${mebibytes(Math.max(...rss))}`,
        );
        console.log(
          `memory, maxSessions ${MAX}: ${requests} sessions created (up to ${rate}/s), store size at most ${
            Math.max(...samples.map((s) => s.size!))
          }; heap after collection ${mebibytes(Math.min(...heaps))} to ${
            mebibytes(Math.max(...heaps))
          }; RSS ${mebibytes(Math.min(...rss))} to ${
            mebibytes(Math.max(...rss))
          }; ${samples.at(-1)!.connections} client connections`,
        );
      },
    );
  },
);
