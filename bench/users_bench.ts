/**
 * What listing and ending one user's sessions costs against how many
 * sessions other users have in the store: `listUserSessions` and
 * `endUserSessions` should cost in proportion to that user's sessions, not
 * to all sessions.
 *
 *   deno run -A bench/users_bench.ts [--others 100000] [--rounds 11]
 *     [--ms 200] [--stores memory,kv,file,redis]
 *   deno run -A bench/users_bench.ts --quick    # --others 10000 --rounds 5
 *
 * For each store, two of them side by side: one holding only the measured
 * user's 5 sessions (N = 0), one holding as well `--others` sessions of as
 * many other users, one each (N = 100,000 by default). KvStore on a SQLite
 * file and FileStore in a directory, both in a temporary directory;
 * RedisStore over npm:redis on a redis-server of its own per store (on
 * 127.0.0.1, a free port, a temporary directory, no persistence), so that
 * the small one does not share the big one's keyspace. The records are
 * written with `store.set(key, record, { version: null })` under store keys
 * made as the middleware makes them, each with `user` set.
 *
 * Then, in each round, for each store and each size in turn (the order of
 * the sizes swapped every round, so that a drift of the machine falls on
 * both): `listUserSessions` as many times as fit in `--ms`, and
 * `endUserSessions` as many times (the 5 sessions written afresh before
 * each, untimed). A round gives the median time of one call at each size
 * and their ratio; reported are the median and range of these over the
 * rounds, after one discarded warm-up round. A ratio near 1 is a cost that
 * does not grow with the other users' sessions.
 *
 * Every temporary directory is removed and every redis-server stopped
 * before it exits, on errors and on Ctrl-C too.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  endUserSessions,
  FileStore,
  KvStore,
  listUserSessions,
  MemoryStore,
  type SessionRecord,
  type SessionStore,
} from "../mod.ts";
import { RedisStore } from "../redis.ts";
import { spread } from "./http.ts";
import { generateId, storeKey } from "../src/id.ts";
import { nodeRedisClient, startRedis } from "../tests/redis_helpers.ts";

const STORES = ["memory", "kv", "file", "redis"] as const;
type StoreName = typeof STORES[number];

/** The user whose sessions are listed and ended, and how many they have. */
const USER = "measured-user";
const OWN = 5;
/** Writes in flight while filling a store. */
const CONCURRENCY = 64;
/** At least this many calls per size and round, however long they take. */
const MIN_CALLS = 5;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    others: { type: "string" },
    rounds: { type: "string" },
    ms: { type: "string", default: "200" },
    stores: { type: "string", default: STORES.join(",") },
    quick: { type: "boolean", default: false },
  },
});

function whole(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new TypeError(`--${name} must be a whole number >= ${min}`);
  }
  return n;
}

const others = whole(
  "others",
  values.others ?? (values.quick ? "10000" : "100000"),
  1,
);
const rounds = whole("rounds", values.rounds ?? (values.quick ? "5" : "11"), 1);
const budgetMs = whole("ms", values.ms, 1);
const chosen = values.stores.split(",") as StoreName[];
for (const name of chosen) {
  if (!STORES.includes(name)) {
    throw new TypeError(`unknown store ${name}; one of ${STORES.join(", ")}`);
  }
}

/** What to undo before exiting, last first; run once, on any exit path. */
const cleanups: (() => Promise<void> | void)[] = [];
async function cleanUp(): Promise<void> {
  while (cleanups.length > 0) {
    try {
      await cleanups.pop()!();
    } catch (error) {
      console.error("cleanup:", error);
    }
  }
}
const onSignal = () => {
  cleanUp().finally(() => Deno.exit(130));
};
Deno.addSignalListener("SIGINT", onSignal);
Deno.addSignalListener("SIGTERM", onSignal);

async function tempDir(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  cleanups.push(() => Deno.remove(dir, { recursive: true }));
  return dir;
}

/** A store of the kind `name`, closed (and its files removed) by `cleanUp`. */
async function open(name: StoreName, capacity: number): Promise<SessionStore> {
  switch (name) {
    case "memory": {
      const store = new MemoryStore({
        maxSessions: capacity + 1_000,
        sweepInterval: 0,
      });
      cleanups.push(() => store.close());
      return store;
    }
    case "kv": {
      const dir = await tempDir("users_bench_kv_");
      const kv = await Deno.openKv(`${dir}/sessions.kv`);
      cleanups.push(() => kv.close());
      return new KvStore(kv);
    }
    case "file": {
      const dir = await tempDir("users_bench_file_");
      const store = new FileStore(dir, { sweepInterval: 0 });
      cleanups.push(() => store.close());
      return store;
    }
    case "redis": {
      const server = await startRedis();
      cleanups.push(() => server.close());
      const client = await nodeRedisClient(server.url);
      cleanups.push(() => client.destroy());
      return new RedisStore(client);
    }
  }
}

/** A live record of `user`, as the middleware writes one with `userKey`. */
function record(user: string): SessionRecord {
  const now = Date.now();
  return {
    data: { user, theme: "dark", visits: 3 },
    user,
    createdAt: now,
    lastActiveAt: now,
    absoluteExpiresAt: now + 4 * 3_600_000,
    expiresAt: now + 4 * 3_600_000,
    browserSession: false,
  };
}

async function write(store: SessionStore, user: string): Promise<void> {
  const written = await store.set(storeKey(generateId()), record(user), {
    version: null,
  });
  if (written === null) throw new Error("a new key was taken");
}

/** Writes `count` sessions of `count` other users, CONCURRENCY at a time. */
async function fill(store: SessionStore, count: number, label: string) {
  const started = performance.now();
  let next = 0;
  let logged = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await write(store, `other-${i}`);
      if (next - logged >= 20_000) {
        logged = next;
        console.error(
          `  ${label}: ${next} written, ${
            ((performance.now() - started) / 1000).toFixed(1)
          } s`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return (performance.now() - started) / 1000;
}

async function writeOwn(store: SessionStore): Promise<void> {
  await Promise.all(Array.from({ length: OWN }, () => write(store, USER)));
}

function median(values: number[]): number {
  return spread(values).median;
}

/** The median ms of one `listUserSessions`, over the calls that fit in `ms`. */
async function timeList(store: SessionStore, ms: number): Promise<number> {
  const times: number[] = [];
  const until = performance.now() + ms;
  while (times.length < MIN_CALLS || performance.now() < until) {
    const started = performance.now();
    const listed = await listUserSessions(store, USER);
    times.push(performance.now() - started);
    if (listed.length !== OWN) {
      throw new Error(`listed ${listed.length} sessions, not ${OWN}`);
    }
  }
  return median(times);
}

/**
 * The median ms of one `endUserSessions` of the user's 5 sessions, written
 * afresh (untimed) after each call: the store is left as it was found.
 */
async function timeEnd(store: SessionStore, ms: number): Promise<number> {
  const times: number[] = [];
  const until = performance.now() + ms;
  while (times.length < MIN_CALLS || performance.now() < until) {
    const started = performance.now();
    const ended = await endUserSessions(store, USER);
    times.push(performance.now() - started);
    if (ended !== OWN) throw new Error(`ended ${ended} sessions, not ${OWN}`);
    await writeOwn(store);
  }
  return median(times);
}

/** Kilobytes of file data waiting to be written back, or null off Linux. */
async function dirtyKb(): Promise<number | null> {
  try {
    // Read through a child: Deno asks for --allow-all to read /proc.
    const { stdout } = await new Deno.Command("cat", {
      args: ["/proc/meminfo"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const kb = /^Dirty:\s+(\d+) kB$/m.exec(new TextDecoder().decode(stdout));
    return kb === null ? null : Number(kb[1]);
  } catch {
    return null;
  }
}

/**
 * Waits (at most 45 s) for the kernel to write back what filling left, so
 * that the writeback does not land in the middle of the measurements.
 */
async function settle(before: number | null): Promise<void> {
  if (before === null) return;
  for (let i = 0; i < 90; i++) {
    const dirty = await dirtyKb();
    if (dirty === null || dirty <= before + 16_384) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

interface Result {
  store: StoreName;
  fillSeconds: number;
  /** Per operation: median ms per call at each size, and their ratio, per round. */
  list: { small: number[]; big: number[]; ratio: number[] };
  end: { small: number[]; big: number[]; ratio: number[] };
}

async function measure(name: StoreName): Promise<Result> {
  console.error(`${name}: filling with ${others} other users' sessions`);
  const dirty = await dirtyKb();
  const small = await open(name, 0);
  const big = await open(name, others);
  const fillSeconds = await fill(big, others, name);
  await writeOwn(small);
  await writeOwn(big);
  console.error(`  ${name}: filled in ${fillSeconds.toFixed(1)} s`);
  if (name === "kv" || name === "file") await settle(dirty);
  const result: Result = {
    store: name,
    fillSeconds,
    list: { small: [], big: [], ratio: [] },
    end: { small: [], big: [], ratio: [] },
  };
  for (let round = -1; round < rounds; round++) {
    // Round -1 warms up and is discarded.
    const ms = round < 0 ? Math.min(budgetMs, 50) : budgetMs;
    const pair = round % 2 === 0 ? [small, big] : [big, small];
    const times = new Map<SessionStore, { list: number; end: number }>();
    for (const store of pair) {
      times.set(store, { list: await timeList(store, ms), end: 0 });
    }
    for (const store of pair) times.get(store)!.end = await timeEnd(store, ms);
    if (round < 0) continue;
    const s = times.get(small)!, b = times.get(big)!;
    for (const op of ["list", "end"] as const) {
      result[op].small.push(s[op]);
      result[op].big.push(b[op]);
      result[op].ratio.push(b[op] / s[op]);
    }
    console.error(
      `  ${name} round ${round + 1}/${rounds}: list ${s.list.toFixed(3)} → ${
        b.list.toFixed(3)
      } ms, end ${s.end.toFixed(3)} → ${b.end.toFixed(3)} ms`,
    );
  }
  return result;
}

function table(results: Result[]): string {
  const ms = (value: number) =>
    value < 0.1 ? `${(value * 1000).toFixed(1)} µs` : `${value.toFixed(2)} ms`;
  const lines = [
    `${others} other users' sessions (one each) against none; ${OWN} sessions of the measured user; ${rounds} rounds × ${budgetMs} ms per operation and size.`,
    "",
    `| store | operation | median at N = 0 | median at N = ${others} | ratio N = ${others} ÷ N = 0 | min–max | fill |`,
    "| --- | --- | ---: | ---: | ---: | --- | ---: |",
  ];
  for (const r of results) {
    for (const op of ["list", "end"] as const) {
      const ratio = spread(r[op].ratio);
      lines.push(
        `| ${r.store} | ${
          op === "list" ? "listUserSessions" : "endUserSessions"
        } | ${ms(median(r[op].small))} | ${ms(median(r[op].big))} | ${
          ratio.median.toFixed(2)
        } | ${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)} | ${
          op === "list" ? `${r.fillSeconds.toFixed(1)} s` : ""
        } |`,
      );
    }
  }
  return lines.join("\n");
}

try {
  const results: Result[] = [];
  for (const name of chosen) {
    results.push(await measure(name));
    // Each store's files and servers go before the next is filled.
    await cleanUp();
  }
  console.log(table(results));
} finally {
  await cleanUp();
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);
}
