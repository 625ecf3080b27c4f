// `deno serve --parallel` runs one isolate per worker, each with its own
// module state: which stores share sessions across the workers.

import assert from "node:assert/strict";
import { startDeno } from "./example_server.ts";
import { freePort, parseSetCookie } from "./helpers.ts";

const WORKERS = 2;
const VISITS = 20;
const MAX_VISITS = 400;
const READY_MS = 60_000;

/**
 * Serves tests/parallel_server.ts with `deno serve --parallel` on WORKERS
 * isolates, then visits it VISITS times as one browser, each visit on a
 * connection of its own so that the kernel spreads them over the workers,
 * and on (up to MAX_VISITS) until every worker answered one.
 */
async function visitParallel(kvPath?: string) {
  const port = freePort();
  await using server = await startDeno([
    "serve",
    "--parallel",
    "--no-prompt",
    "--host=127.0.0.1",
    `--port=${port}`,
    ...kvPath === undefined
      ? []
      : [`--allow-read=${kvPath}`, `--allow-write=${kvPath}`],
    "tests/parallel_server.ts",
    ...kvPath === undefined ? [] : [kvPath],
  ], { DENO_JOBS: String(WORKERS) });
  using client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  // The first worker to listen says so, and on a loaded machine the others
  // may start seconds later: probe until every one answers.
  const ready = new Set<string>();
  const readyBy = Date.now() + READY_MS;
  while (ready.size < WORKERS && Date.now() < readyBy) {
    const response = await fetch(`${server.url}/worker`, {
      client,
      signal: AbortSignal.timeout(10_000),
    });
    ready.add(await response.text());
    if (ready.size < WORKERS) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(
    ready.size,
    WORKERS,
    `all workers answered within ${READY_MS} ms`,
  );
  let cookie: string | null = null;
  const counts: number[] = [];
  const workers = new Set<string>();
  // Under load one worker may take many connections in a row: visit on
  // until both have answered (a bounded number of times).
  for (
    let visit = 0;
    visit < VISITS || (workers.size < WORKERS && visit < MAX_VISITS);
    visit++
  ) {
    const response = await fetch(`${server.url}/`, {
      client,
      headers: cookie === null ? {} : { cookie },
      signal: AbortSignal.timeout(10_000),
    });
    const setCookie = response.headers.get("set-cookie");
    if (setCookie !== null) {
      const { name, value } = parseSetCookie(setCookie);
      cookie = `${name}=${value}`;
    }
    const { visits, worker } = await response.json();
    counts.push(visits);
    workers.add(worker);
  }
  return { counts, workers };
}

Deno.test("deno serve --parallel: a KvStore on one file shares sessions across the workers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parallel_kv_" });
  try {
    const { counts, workers } = await visitParallel(`${dir}/sessions.kv`);
    assert.equal(workers.size, WORKERS, "every worker answered");
    assert.deepEqual(
      counts,
      Array.from({ length: counts.length }, (_, i) => i + 1),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno serve --parallel: each worker's MemoryStore holds sessions of its own (as README warns)", async () => {
  const { counts, workers } = await visitParallel();
  assert.equal(workers.size, WORKERS, "every worker answered");
  assert.notDeepEqual(
    counts,
    Array.from({ length: counts.length }, (_, i) => i + 1),
    `counted ${counts.join(",")}`,
  );
});
