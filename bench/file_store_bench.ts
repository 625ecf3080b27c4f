/**
 * FileStore's cost against the number of sessions on disk: `get` and `set`
 * should not grow with it, `clearExpired` (a scan that reads every file)
 * should grow linearly.
 *
 *   deno bench --allow-read --allow-write bench/file_store_bench.ts
 *
 * The sessions are written straight to a temporary directory, in parallel
 * batches, and removed when the bench ends. On Linux the bench then waits
 * (at most 45 s) for the kernel to write those files back, so that the
 * writeback does not land in the middle of one size's measurements.
 *
 * @module
 */

import { FileStore, type SessionRecord } from "../mod.ts";

const SIZES = [10, 10_000, 100_000];
const BATCH = 1_000;

const root = await Deno.makeTempDir({ prefix: "file_store_bench_" });
globalThis.addEventListener("unload", () => {
  Deno.removeSync(root, { recursive: true });
});

function hex(bytes: number): string {
  const values = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(values, (b) => b.toString(16).padStart(2, "0")).join("");
}

function record(): SessionRecord {
  const now = Date.now();
  return {
    data: { user: "ram", cart: ["apple", "pear"], visits: 3 },
    createdAt: now,
    lastActiveAt: now,
    absoluteExpiresAt: now + 86_400_000,
    expiresAt: now + 86_400_000,
    browserSession: false,
  };
}

/** Writes `count` live sessions into `dir` as the store would; returns their keys. */
async function populate(dir: string, count: number): Promise<string[]> {
  const keys = Array.from({ length: count }, () => hex(32));
  const text = JSON.stringify({ version: hex(16), record: record() });
  for (let start = 0; start < count; start += BATCH) {
    await Promise.all(
      keys.slice(start, start + BATCH).map((key) =>
        Deno.writeTextFile(`${dir}/${key}`, text, { mode: 0o600 })
      ),
    );
  }
  return keys;
}

/** Kilobytes of file data waiting to be written back, or null off Linux. */
function dirtyKb(): number | null {
  try {
    const meminfo = Deno.readTextFileSync("/proc/meminfo");
    return Number(/^Dirty:\s+(\d+) kB$/m.exec(meminfo)?.[1] ?? NaN);
  } catch {
    return null;
  }
}

const dirtyBefore = dirtyKb();
const populated = new Map<number, { dir: string; keys: string[] }>();
for (const size of SIZES) {
  const dir = `${root}/${size}`;
  await Deno.mkdir(dir);
  populated.set(size, { dir, keys: await populate(dir, size) });
}
if (dirtyBefore !== null && !Number.isNaN(dirtyBefore)) {
  for (let i = 0; i < 90 && dirtyKb()! > dirtyBefore + 16_384; i++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

for (const size of SIZES) {
  const { dir, keys } = populated.get(size)!;
  const store = new FileStore(dir, { sweepInterval: 0 });
  const updated = keys[0];
  let version = (await store.get(updated))!.version;
  let next = 0;

  Deno.bench({
    name: `get, ${size} sessions`,
    group: "get",
    baseline: size === SIZES[0],
    async fn() {
      // A different file each time, across the whole directory.
      next = (next + 7919) % keys.length;
      if ((await store.get(keys[next])) === null) throw new Error("missing");
    },
  });

  Deno.bench({
    name: `set, ${size} sessions`,
    group: "set",
    baseline: size === SIZES[0],
    async fn() {
      const written = await store.set(updated, record(), { version });
      if (written === null) throw new Error("conflict");
      version = written;
    },
  });

  Deno.bench({
    name: `clearExpired, ${size} sessions`,
    group: "clearExpired",
    baseline: size === SIZES[0],
    n: size >= 100_000 ? 3 : size >= 10_000 ? 10 : 200,
    warmup: 1,
    async fn() {
      if ((await store.clearExpired()) !== 0) throw new Error("removed");
    },
  });
}
