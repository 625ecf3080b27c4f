/**
 * Lua against WATCH/MULTI for RedisStore's conditional write, under
 * contention: `deno run -A bench/redis_cas_bench.ts [--seconds 2]
 * [--rounds 3]`. Starts its own redis-server on 127.0.0.1 and stops it.
 *
 * Every writer loops: read the record (GET), then write it back only if its
 * version is still the one read, retrying from the read when it is not. The
 * three ways to make that write conditional:
 *
 * - `lua`: one EVALSHA that checks the version and writes (what RedisStore
 *   does): two round trips per attempt, all writers on one shared
 *   connection, as an app has it.
 * - `lua-per-writer`: the same, each writer on a connection of its own, to
 *   tell the round trips from the connection count.
 * - `watch-multi`: the store's read (GET), then its write: WATCH, GET again to
 *   check the version under the watch, then MULTI/SET/EXEC sent together:
 *   four round trips per attempt (the store's `get` and `set` are separate
 *   calls with the request's handler between them, so the watch cannot start
 *   at the first read), and a connection of its own per writer (WATCH is
 *   state of the connection, so a shared one cannot carry two writes at
 *   once).
 *
 * Reported per scenario (writers × keys): committed writes per second,
 * attempts per committed write, and each way's ratio to `lua` and to
 * `lua-per-writer` in the same round, median and range over the rounds.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createClient, WatchError } from "redis";
import { startRedis } from "../tests/redis_helpers.ts";
import { spread } from "./http.ts";

const connect = (url: string) =>
  createClient({ url, disableOfflineQueue: true }).connect();
type Client = Awaited<ReturnType<typeof connect>>;

const CHECK_AND_SET = `
if string.sub(redis.call('GET', KEYS[1]) or '', 1, 32) ~= ARGV[1] then
  return false
end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
return true
`;

/** A value like a session record's: a 32-hex version, then ~200 bytes. */
function value(n: number): string {
  const version = crypto.randomUUID().replaceAll("-", "");
  return version + JSON.stringify({ data: { n, user: "user-123" } }).padEnd(
    200,
    " ",
  );
}

interface Tally {
  committed: number;
  attempts: number;
}

type Way = "lua" | "lua-per-writer" | "watch-multi";
const WAYS: readonly Way[] = ["lua", "lua-per-writer", "watch-multi"];

/** Runs `writers` loops on `keys` keys for `ms`; what they committed. */
async function run(
  way: Way,
  shared: Client,
  own: Client[],
  sha: string,
  writers: number,
  keys: number,
  ms: number,
): Promise<Tally> {
  const tally: Tally = { committed: 0, attempts: 0 };
  const deadline = performance.now() + ms;
  const expireAt = String(Date.now() + 3_600_000);
  const loop = async (writer: number) => {
    const client = way === "lua" ? shared : own[writer];
    const key = `cas:${writer % keys}`;
    while (performance.now() < deadline) {
      tally.attempts++;
      const next = value(tally.attempts);
      if (way === "watch-multi") {
        // The store's get(), then its set(): WATCH, read the version again
        // under the watch, and write only if it is the one read before.
        const read = (await client.get(key) ?? "").slice(0, 32);
        await client.watch(key);
        const current = (await client.get(key) ?? "").slice(0, 32);
        if (current !== read) {
          await client.unwatch();
          continue;
        }
        try {
          await client.multi().set(key, next, { PXAT: Number(expireAt) })
            .exec();
          tally.committed++;
        } catch (error) {
          if (!(error instanceof WatchError)) throw error;
        }
      } else {
        const current = await client.get(key);
        const written = await client.evalSha(sha, {
          keys: [key],
          arguments: [(current ?? "").slice(0, 32), next, expireAt],
        });
        if (written !== null) tally.committed++;
      }
    }
  };
  await Promise.all(Array.from({ length: writers }, (_, i) => loop(i)));
  return tally;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "2" },
      rounds: { type: "string", default: "3" },
    },
  });
  const ms = Number(values.seconds) * 1000;
  const rounds = Number(values.rounds);
  const scenarios = [
    { writers: 1, keys: 1 },
    { writers: 8, keys: 1 },
    { writers: 32, keys: 1 },
    { writers: 32, keys: 32 },
  ];
  const most = Math.max(...scenarios.map((s) => s.writers));
  await using server = await startRedis();
  const shared = await connect(server.url);
  const own = await Promise.all(
    Array.from({ length: most }, () => connect(server.url)),
  );
  try {
    const sha = await shared.scriptLoad(CHECK_AND_SET);
    const results = new Map<
      string,
      { rate: number[]; attempts: number[]; ratios: Record<Way, number[]> }
    >();
    for (let round = 0; round < rounds; round++) {
      for (const { writers, keys } of scenarios) {
        const rates = new Map<Way, number>();
        // The order rotates each round.
        const order = WAYS.map((_, i) => WAYS[(i + round) % WAYS.length]);
        for (const way of order) {
          await shared.flushAll();
          const tally = await run(way, shared, own, sha, writers, keys, ms);
          const rate = tally.committed / (ms / 1000);
          rates.set(way, rate);
          const name = `${writers} × ${keys} | ${way}`;
          const entry = results.get(name) ??
            {
              rate: [],
              attempts: [],
              ratios: { lua: [], "lua-per-writer": [], "watch-multi": [] },
            };
          entry.rate.push(rate);
          entry.attempts.push(tally.attempts / Math.max(1, tally.committed));
          results.set(name, entry);
        }
        for (const way of WAYS) {
          const entry = results.get(`${writers} × ${keys} | ${way}`);
          for (const base of WAYS) {
            entry?.ratios[base].push(
              (rates.get(way) ?? 0) / (rates.get(base) ?? 1),
            );
          }
        }
      }
      console.error(`round ${round + 1}/${rounds} done`);
    }
    const version = (await server.cli("INFO", "server")).match(
      /redis_version:(\S+)/,
    )?.[1];
    console.log(
      `${rounds} rounds × ${values.seconds} s per run; redis-server ${version} on 127.0.0.1, npm:redis 6.3.1, Deno ${Deno.version.deno}.\n`,
    );
    console.log(
      "| writers × keys | way | committed writes/s | attempts per commit | ÷ lua (same round) | ÷ lua-per-writer (same round) |",
    );
    console.log("| --- | --- | ---: | ---: | ---: | ---: |");
    const range = (values: number[]) => {
      const { median, min, max } = spread(values);
      return `${median.toFixed(2)} (${min.toFixed(2)}–${max.toFixed(2)})`;
    };
    for (const [name, { rate, attempts, ratios }] of results) {
      console.log(
        `| ${name} | ${Math.round(spread(rate).median)} | ${
          spread(attempts).median.toFixed(2)
        } | ${range(ratios.lua)} | ${range(ratios["lua-per-writer"])} |`,
      );
    }
  } finally {
    shared.destroy();
    for (const client of own) client.destroy();
  }
}
