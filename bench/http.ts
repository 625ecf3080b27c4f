/**
 * The HTTP harness: every variant of `variants.ts` in its own server process
 * pinned to core 0, `wrk` pinned to core 1, all in one run. A warm-up pass is
 * discarded; then, in each round, every variant × route is measured and
 * divided by bare `Deno.serve` measured in the same round (the mean of the two
 * bare runs that bracket it: bare is measured at the start of a round, after
 * every two variants, and at the end). Reports medians and min–max of the
 * ratios, req/s for reference, the store writes during /read, and server
 * memory while 100k+ sessions are created against a bounded MemoryStore.
 *
 * Run it with `deno task bench` (see `run.ts` for the flags).
 *
 * Every child process is stopped before it returns, on error too, and on
 * Ctrl-C.
 *
 * @module
 */

import { type RedisServer, startRedis } from "../tests/redis_helpers.ts";
import { type Route, type Variant, variants } from "./variants.ts";

const benchDir = new URL("./", import.meta.url);
const root = new URL("../", benchDir);
const luaScript = new URL("pool.lua", benchDir).pathname;
const serverScript = new URL("server.ts", benchDir).pathname;

/** What the harness is told to do. */
export interface HarnessOptions {
  rounds: number;
  /** Seconds per measured run (whole seconds: wrk's unit). */
  duration: number;
  /** Seconds per discarded warm-up run; 0 skips the warm-up. */
  warmup: number;
  connections: number;
  /** Sessions created per variant, sent round-robin. */
  pool: number;
  variants: string[];
  /** Measure bare again after this many variants (and at the end). */
  bareEvery: number;
  /** Run the memory-flatness check. */
  memory: boolean;
  /** Distinct sessions to create in the memory check. */
  sessions: number;
  /** Marks every child process's command line, to find leftovers. */
  tag: string;
  /** Progress lines on stderr. */
  log: (line: string) => void;
}

/** One wrk run. */
export interface WrkResult {
  requests: number;
  duration_us: number;
  rps: number;
  /** Non-2xx/3xx answers; a 409 on /read means a cookie found no session. */
  status: number;
  /** Socket errors and timeouts. */
  socket: number;
  p50_us: number;
  p99_us: number;
  /** Server CPU time (all threads) per request, in µs; null off Linux. */
  cpu_us: number | null;
  /** Server CPU time over wall time: near 1 when the server was the bottleneck. */
  busy: number | null;
  /** Store calls during the run, for the variants that count them. */
  store?: { gets: number; sets: number; deletes: number };
}

/** Median and range of a series. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** A variant × route over the rounds. */
export interface RouteResult {
  variant: string;
  route: Route;
  /** Req/s divided by bare Deno.serve's in the same round. */
  ratio: Spread;
  rps: Spread;
  /**
   * Bare's server CPU per request divided by this one's, in the same round:
   * the throughput ratio if both had a whole core to themselves. Unlike
   * req/s, it does not move with load from other processes on the machine.
   */
  cpuRatio: Spread | null;
  cpuUs: Spread | null;
  busy: Spread | null;
  ratios: number[];
  cpuRatios: number[];
  runs: WrkResult[];
}

/** A ratio between two variants, per round. */
export interface Comparison {
  name: string;
  /** Of req/s. */
  ratio: Spread;
  /** Of server CPU per request (inverted: higher is cheaper). */
  cpuRatio: Spread | null;
}

/**
 * Store calls counted (a wrapper around the store, read over /stats) during
 * the /read runs of one variant.
 */
export interface WriteCount {
  variant: string;
  /** /read runs counted. */
  runs: number;
  reads: number;
  gets: number;
  sets: number;
  deletes: number;
  /** The most sets in one run. */
  maxSetsPerRun: number;
}

/** Store writes during the /write-one runs of one variant: one session, every connection. */
export interface ContentionCount {
  variant: string;
  requests: number;
  sets: number;
}

/** One point of the memory-flatness check. */
export interface MemoryPoint {
  seconds: number;
  created: number;
  size: number;
  rssMiB: number;
  heapUsedMiB: number;
}

/** A target from the issue, met or not. */
export interface Target {
  name: string;
  /** ">=": value at least goal; "<=": at most. */
  compare?: ">=" | "<=";
  /** On req/s ratios, the issue's measure. */
  value: number;
  /** On server CPU per request. */
  cpuValue: number | null;
  goal: number;
  met: boolean;
}

/** Everything one run of the harness found. */
export interface HarnessResults {
  machine: Record<string, string | number>;
  options: Omit<HarnessOptions, "log">;
  pinned: boolean;
  bare: number[][];
  results: RouteResult[];
  comparisons: Comparison[];
  writes: WriteCount[];
  contention: ContentionCount[];
  memory: MemoryPoint[];
  targets: Target[];
  /** Every process the harness started, all stopped before it returned. */
  pids: number[];
  seconds: number;
}

/** A clear error when wrk is not installed. */
export async function checkWrk(): Promise<string> {
  try {
    const { stdout, stderr } = await new Deno.Command("wrk", {
      args: ["-v"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stdout) +
      new TextDecoder().decode(stderr);
    return text.split("\n")[0].trim();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        "wrk is not installed: the HTTP benchmark needs it. Install it with `apt-get install -y wrk` (Debian/Ubuntu).",
      );
    }
    throw error;
  }
}

/** Whether `taskset` can pin a process here. */
export async function hasTaskset(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("taskset", {
      args: ["-c", "0", "true"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

/** The children alive right now, so that every exit path can stop them. */
const live = new Set<Deno.ChildProcess>();

/** Kills every child still running. */
export function killAll(): void {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** A running benchmark server. */
export interface Server {
  variant: string;
  base: string;
  /** The second listener, for /stats. */
  control: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts `bench/server.ts --variant NAME` (pinned to core 0 when `pinned`). */
export async function startServer(
  variant: string,
  options: HarnessOptions,
  pinned: boolean,
  dir: string,
  extra: { maxSessions?: number; gc?: boolean; redisUrl?: string } = {},
): Promise<Server> {
  const deno = [
    Deno.execPath(),
    "run",
    "--allow-net=127.0.0.1",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    ...(extra.gc ? ["--v8-flags=--expose-gc"] : []),
    serverScript,
    "--variant",
    variant,
    "--kv-path",
    `${dir}/${variant}.kv`,
    "--file-dir",
    `${dir}/${variant}-sessions`,
    ...(extra.maxSessions ? ["--max-sessions", String(extra.maxSessions)] : []),
    ...(extra.redisUrl ? ["--redis-url", extra.redisUrl] : []),
    "--tag",
    options.tag,
  ];
  const [command, ...args] = pinned ? ["taskset", "-c", "0", ...deno] : deno;
  const child = new Deno.Command(command, {
    args,
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  live.add(child);
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let output = "";
  const deadline = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    while (!output.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`server ${variant} exited: ${output}`);
      output += value;
    }
  } catch (error) {
    clearTimeout(deadline);
    await reader.cancel();
    child.kill("SIGKILL");
    await child.status;
    live.delete(child);
    throw error;
  }
  clearTimeout(deadline);
  const match = output.match(
    /Listening on (http:\/\/127\.0\.0\.1:\d+)\/ control (http:\/\/127\.0\.0\.1:\d+)\/ pid (\d+)/,
  );
  if (match === null) throw new Error(`server ${variant} said: ${output}`);
  // Keep draining stdout so the server never blocks on a full pipe.
  const drained = (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })();
  return {
    variant,
    base: match[1],
    control: match[2],
    pid: Number(match[3]),
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      }, 5_000);
      await child.status;
      clearTimeout(timer);
      await drained;
      live.delete(child);
    },
  };
}

/** One wrk run on `path` (pinned to core 1 when `pinned`), with the cookies of `cookieFile`. */
export async function wrk(
  server: Server,
  path: string,
  seconds: number,
  options: HarnessOptions,
  pinned: boolean,
  cookieFile = "",
): Promise<WrkResult> {
  const wrkArgs = [
    "-t1",
    `-c${options.connections}`,
    `-d${seconds}s`,
    "--timeout",
    "5s",
    "-s",
    luaScript,
    `${server.base}${path}`,
    "--",
    path,
    cookieFile,
    options.tag,
  ];
  const [command, ...args] = pinned
    ? ["taskset", "-c", "1", "wrk", ...wrkArgs]
    : ["wrk", ...wrkArgs];
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  live.add(child);
  const timer = setTimeout(() => child.kill("SIGKILL"), (seconds + 20) * 1000);
  const before = await getJson(`${server.control}/stats`);
  const cpuBefore = await cpuNs(server.pid);
  const { stdout, stderr, success } = await child.output();
  const cpuAfter = await cpuNs(server.pid);
  const after = await getJson(`${server.control}/stats`);
  clearTimeout(timer);
  live.delete(child);
  const text = new TextDecoder().decode(stdout);
  const line = text.trim().split("\n").findLast((l) => l.startsWith("{"));
  if (!success || line === undefined) {
    throw new Error(
      `wrk failed on ${server.base}${path}: ${text}${
        new TextDecoder().decode(stderr)
      }`,
    );
  }
  const raw = JSON.parse(line);
  const cpu = cpuBefore === null || cpuAfter === null
    ? null
    : (cpuAfter - cpuBefore) / 1000;
  return {
    requests: raw.requests,
    duration_us: raw.duration_us,
    rps: raw.requests / (raw.duration_us / 1e6),
    status: raw.status,
    socket: raw.connect + raw.read + raw.write + raw.timeout,
    p50_us: raw.p50_us,
    p99_us: raw.p99_us,
    cpu_us: cpu === null ? null : cpu / raw.requests,
    busy: cpu === null ? null : cpu / raw.duration_us,
    ...("sets" in after
      ? {
        store: {
          gets: after.gets - before.gets,
          sets: after.sets - before.sets,
          deletes: after.deletes - before.deletes,
        },
      }
      : {}),
  };
}

/** `result`, if every request of it got a 2xx or 3xx answer; an error otherwise. */
export function allAnswered(label: string, result: WrkResult): WrkResult {
  if (result.status + result.socket > 0) {
    throw new Error(
      `${label}: ${result.status} non-2xx answers and ${result.socket} socket errors in ${result.requests} requests; every request must succeed`,
    );
  }
  return result;
}

/**
 * The CPU time all threads of process `pid` have run, in ns, from Linux's
 * `/proc/PID/task/TID/schedstat`, read by a `cat` child (Deno asks for
 * --allow-all to read another process's /proc entries; --allow-run does).
 * Null where there is no such file.
 */
async function cpuNs(pid: number): Promise<number | null> {
  try {
    const { stdout, success } = await new Deno.Command("sh", {
      args: ["-c", `cat /proc/${pid}/task/*/schedstat`],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!success) return null;
    let total = 0;
    for (const line of new TextDecoder().decode(stdout).split("\n")) {
      if (line.trim() !== "") total += Number(line.split(" ")[0]);
    }
    return total;
  } catch {
    return null;
  }
}

async function getJson(url: string): Promise<Record<string, number>> {
  const response = await fetch(url);
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`${url}: ${response.status}`);
  }
  return await response.json();
}

/**
 * Creates `count` sessions with /write; returns their Cookie values. A
 * response may set its cookie more than once (hono-sessions' CookieStore
 * sends the new empty session's, then the written one's): as in a browser,
 * the last one wins.
 */
export async function makePool(base: string, count: number): Promise<string[]> {
  const cookies: string[] = [];
  const one = async () => {
    const response = await fetch(`${base}/write`);
    await response.body?.cancel();
    const header = response.headers.getSetCookie().at(-1);
    if (!response.ok || header === undefined) {
      throw new Error(`${base}/write gave no cookie (${response.status})`);
    }
    cookies.push(header.split(";")[0]);
  };
  for (let i = 0; i < count; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, count - i) }, one),
    );
  }
  return cookies;
}

/** The median and range of `values`. */
export function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

/** The output of a command, trimmed; "" if it fails (not Linux, missing). */
async function run(command: string, ...args: string[]): Promise<string> {
  try {
    const { stdout, success } = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return success ? new TextDecoder().decode(stdout).trim() : "";
  } catch {
    return "";
  }
}

/**
 * What the numbers were measured on. Read through child processes: Deno asks
 * for --allow-all to read /proc.
 */
async function machine(
  wrkVersion: string,
  dir: string,
): Promise<Record<string, string>> {
  const cpuinfo = await run("cat", "/proc/cpuinfo");
  return {
    cpu: cpuinfo.match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown",
    cores: String(navigator.hardwareConcurrency),
    memory:
      (await run("cat", "/proc/meminfo")).match(/MemTotal:\s*(.*)/)?.[1] ??
        "unknown",
    os: `${Deno.build.os} ${await run("uname", "-r")}`,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    wrk: wrkVersion,
    "redis-server":
      (await run("redis-server", "--version")).match(/v=(\S+)/)?.[1] ??
        "not installed",
    "kv and file stores on": await run(
      "findmnt",
      "-n",
      "-o",
      "FSTYPE,SOURCE",
      "-T",
      dir,
    ),
  };
}

/** Runs the whole harness; every child is stopped before it resolves. */
export async function runHarness(
  options: HarnessOptions,
): Promise<HarnessResults> {
  const started = performance.now();
  const log = options.log;
  const wrkVersion = await checkWrk();
  const pinned = navigator.hardwareConcurrency >= 2 && await hasTaskset();
  if (!pinned) log("taskset or a second core missing: running unpinned");
  const unknown = options.variants.filter((name) =>
    !variants.some((v) => v.name === name)
  );
  if (unknown.length > 0) {
    throw new Error(`unknown variants: ${unknown.join(", ")}`);
  }
  const chosen: Variant[] = variants.filter((v) =>
    v.name === "bare" || options.variants.includes(v.name)
  );
  const dir = await Deno.makeTempDir({ prefix: "session_bench_" });
  const servers = new Map<string, Server>();
  const pids: number[] = [];
  let redis: RedisServer | null = null;
  const onSignal = () => {
    killAll();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    // The Redis variants' redis-server, on the servers' core: wrk keeps a
    // core to itself, as for every variant.
    if (chosen.some((variant) => variant.name.startsWith("redis"))) {
      redis = await startRedis(pinned ? { cpus: "0" } : {});
      pids.push(redis.pid);
    }
    const redisUrl = redis?.url;
    // Started together; every one is stopped in `finally`, even if another
    // failed to start.
    const launched = await Promise.allSettled(
      chosen.map((variant) =>
        startServer(variant.name, options, pinned, dir, { redisUrl })
      ),
    );
    for (const result of launched) {
      if (result.status === "fulfilled") {
        servers.set(result.value.variant, result.value);
        pids.push(result.value.pid);
      }
    }
    const failed = launched.find((r) => r.status === "rejected");
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    log(`servers: ${[...servers.keys()].join(", ")}`);

    // Per variant, the pool's cookies (and, for /write-one, only the
    // first: every connection on one session).
    const cookieFiles = new Map<string, string>();
    const makeCookies = async (variant: string) => {
      const cookies = await makePool(servers.get(variant)!.base, options.pool);
      const file = `${dir}/${variant}.cookies`;
      await Deno.writeTextFile(file, cookies.join("\n") + "\n");
      cookieFiles.set(variant, file);
      await Deno.writeTextFile(`${file}.one`, cookies[0] + "\n");
    };
    for (const variant of chosen) {
      if (variant.name !== "bare") await makeCookies(variant.name);
    }
    const fresh = new Set(
      chosen.filter((v) => v.freshPool).map((v) => v.name),
    );

    const measure = async (variant: string, route: Route, seconds: number) => {
      // A session in the cookie: /read gets cookies as fresh as a browser's
      // (see `Variant.freshPool`).
      if (route === "/read" && fresh.has(variant)) await makeCookies(variant);
      const pool = cookieFiles.get(variant);
      const result = await wrk(
        servers.get(variant)!,
        route,
        seconds,
        options,
        pinned,
        pool === undefined ? "" : route === "/write-one" ? `${pool}.one` : pool,
      );
      return allAnswered(`${variant} ${route}`, result);
    };

    if (options.warmup > 0) {
      log("warm-up (discarded)");
      for (const variant of chosen) {
        for (const route of variant.routes) {
          await measure(variant.name, route, options.warmup);
        }
      }
    }

    const others = chosen.filter((v) => v.name !== "bare");
    const runs = new Map<string, WrkResult[]>();
    const ratios = new Map<string, number[]>();
    const cpuRatios = new Map<string, number[]>();
    const push = <T>(map: Map<string, T[]>, key: string, value: T) => {
      if (!map.has(key)) map.set(key, []);
      map.get(key)!.push(value);
    };
    const bare: number[][] = [];
    const writes = new Map<string, WriteCount>();
    const contention = new Map<string, ContentionCount>();
    for (let round = 0; round < options.rounds; round++) {
      // Rotate the order so that no variant always follows the same one.
      const order = others.map((_, i) => others[(i + round) % others.length]);
      const bareRuns: WrkResult[] = [];
      const pending: { key: string; result: WrkResult; after: number }[] = [];
      const measureBare = async () => {
        const result = await measure("bare", "/bare", options.duration);
        push(runs, "bare /bare", result);
        bareRuns.push(result);
      };
      await measureBare();
      for (let i = 0; i < order.length; i++) {
        const variant = order[i];
        for (const route of variant.routes) {
          const result = await measure(variant.name, route, options.duration);
          if (route === "/read" && result.store !== undefined) {
            const count = writes.get(variant.name) ?? {
              variant: variant.name,
              runs: 0,
              reads: 0,
              gets: 0,
              sets: 0,
              deletes: 0,
              maxSetsPerRun: 0,
            };
            count.runs++;
            count.reads += result.requests;
            count.gets += result.store.gets;
            count.sets += result.store.sets;
            count.deletes += result.store.deletes;
            count.maxSetsPerRun = Math.max(
              count.maxSetsPerRun,
              result.store.sets,
            );
            writes.set(variant.name, count);
          }
          if (route === "/write-one" && result.store !== undefined) {
            const count = contention.get(variant.name) ??
              { variant: variant.name, requests: 0, sets: 0 };
            count.requests += result.requests;
            count.sets += result.store.sets;
            contention.set(variant.name, count);
          }
          const key = `${variant.name} ${route}`;
          push(runs, key, result);
          pending.push({ key, result, after: bareRuns.length - 1 });
        }
        if ((i + 1) % options.bareEvery === 0 || i === order.length - 1) {
          await measureBare();
        }
      }
      // Each run against the mean of the two bare runs that bracket it.
      for (const { key, result, after } of pending) {
        const [a, b] = [bareRuns[after], bareRuns[after + 1]];
        push(ratios, key, result.rps / ((a.rps + b.rps) / 2));
        if (result.cpu_us !== null && a.cpu_us !== null && b.cpu_us !== null) {
          push(cpuRatios, key, (a.cpu_us + b.cpu_us) / 2 / result.cpu_us);
        }
      }
      push(ratios, "bare /bare", 1);
      if (bareRuns[0].cpu_us !== null) push(cpuRatios, "bare /bare", 1);
      bare.push(bareRuns.map((r) => r.rps));
      log(
        `round ${round + 1}/${options.rounds}: bare ${
          bareRuns.map((r) =>
            `${Math.round(r.rps)} req/s` +
            (r.cpu_us === null ? "" : ` (${r.cpu_us.toFixed(2)} µs CPU)`)
          ).join(", ")
        }`,
      );
    }

    const results: RouteResult[] = [];
    const maybe = (values: (number | null)[]) =>
      values.some((v) => v === null) ? null : spread(values as number[]);
    for (const variant of chosen) {
      for (const route of variant.routes) {
        const key = `${variant.name} ${route}`;
        const list = runs.get(key)!;
        results.push({
          variant: variant.name,
          route,
          ratio: spread(ratios.get(key)!),
          rps: spread(list.map((r) => r.rps)),
          cpuRatio: cpuRatios.has(key) ? spread(cpuRatios.get(key)!) : null,
          cpuUs: maybe(list.map((r) => r.cpu_us)),
          busy: maybe(list.map((r) => r.busy)),
          ratios: ratios.get(key)!,
          cpuRatios: cpuRatios.get(key) ?? [],
          runs: list,
        });
      }
    }

    const comparisons: Comparison[] = [];
    const compare = (name: string, a: string, b: string) => {
      const x = ratios.get(a), y = ratios.get(b);
      if (x === undefined || y === undefined) return;
      const cx = cpuRatios.get(a), cy = cpuRatios.get(b);
      comparisons.push({
        name,
        ratio: spread(x.map((v, i) => v / y[i])),
        cpuRatio: cx === undefined || cy === undefined
          ? null
          : spread(cx.map((v, i) => v / cy[i])),
      });
    };
    for (const ours of ["memory", "memory-secrets"]) {
      for (const route of ["/read", "/write"]) {
        compare(
          `${ours} ${route} / floor-headers ${route}`,
          `${ours} ${route}`,
          `floor-headers ${route}`,
        );
        compare(
          `${ours} ${route} / hono-sessions ${route}`,
          `${ours} ${route}`,
          `hono-sessions ${route}`,
        );
      }
    }
    for (const route of ["/read", "/write"]) {
      for (const other of ["floor-headers", "memory-secrets"]) {
        compare(
          `cookie ${route} / ${other} ${route}`,
          `cookie ${route}`,
          `${other} ${route}`,
        );
      }
      compare(
        `cookie ${route} / hono-sessions-cookie ${route}`,
        `cookie ${route}`,
        `hono-sessions-cookie ${route}`,
      );
    }
    for (const store of ["kv", "file", "redis"]) {
      compare(
        `${store} /read / ${store}-floor /read`,
        `${store} /read`,
        `${store}-floor /read`,
      );
      compare(
        `${store} /read / hono-sessions /read`,
        `${store} /read`,
        `hono-sessions /read`,
      );
      compare(
        `${store} /read / ${store}-untimed /read`,
        `${store} /read`,
        `${store}-untimed /read`,
      );
    }

    const memory = options.memory
      ? await memoryCheck(options, pinned, dir, pids)
      : [];

    const targets: Target[] = [];
    const target = (
      name: string,
      value: { ratio: Spread; cpuRatio: Spread | null } | undefined,
      goal: number,
    ) => {
      if (value === undefined) return;
      targets.push({
        name,
        value: value.ratio.median,
        cpuValue: value.cpuRatio?.median ?? null,
        goal,
        met: value.ratio.median >= goal,
      });
    };
    const comparison = (name: string) =>
      comparisons.find((c) => c.name === name);
    for (const ours of ["memory", "memory-secrets"]) {
      target(
        `${ours} /read vs floor-headers /read`,
        comparison(`${ours} /read / floor-headers /read`),
        0.95,
      );
      target(
        `${ours} /write vs floor-headers /write`,
        comparison(`${ours} /write / floor-headers /write`),
        0.9,
      );
      for (const r of ["/read", "/write"]) {
        target(
          `${ours} ${r} vs hono-sessions ${r}`,
          comparison(`${ours} ${r} / hono-sessions ${r}`),
          3,
        );
      }
    }
    // The server-side stores' "3× hono-sessions", applied to the cookie
    // stores.
    for (const r of ["/read", "/write"]) {
      target(
        `cookie ${r} vs hono-sessions-cookie ${r}`,
        comparison(`cookie ${r} / hono-sessions-cookie ${r}`),
        3,
      );
    }
    for (const store of ["kv", "file", "redis"]) {
      target(
        `${store} /read vs ${store}-floor /read`,
        comparison(`${store} /read / ${store}-floor /read`),
        0.9,
      );
    }
    // With touchInterval 60 s, a run (under 60 s) may touch each session of
    // the pool at most once; any write beyond that is a write between
    // touches.
    for (const count of writes.values()) {
      targets.push({
        name:
          `${count.variant}: most store writes in one /read run (at most one touch per session: pool ${options.pool})`,
        value: count.maxSetsPerRun,
        cpuValue: null,
        goal: options.pool,
        compare: "<=",
        met: count.maxSetsPerRun <= options.pool,
      });
    }

    // Flat memory: from the first point past 100k sessions to the last.
    const past = memory.find((p) => p.created >= 100_000);
    const last = memory.at(-1);
    if (past !== undefined && last !== undefined && last !== past) {
      targets.push({
        name:
          `memory flat: heap used after GC, ${last.created} sessions vs ${past.created} (ratio)`,
        value: last.heapUsedMiB / past.heapUsedMiB,
        cpuValue: null,
        goal: 1.1,
        compare: "<=",
        met: last.heapUsedMiB / past.heapUsedMiB <= 1.1,
      });
      targets.push({
        name:
          `memory flat: RSS, ${last.created} sessions vs ${past.created} (ratio)`,
        value: last.rssMiB / past.rssMiB,
        cpuValue: null,
        goal: 1.1,
        compare: "<=",
        met: last.rssMiB / past.rssMiB <= 1.1,
      });
      targets.push({
        name: `memory flat: store size stays at maxSessions (10000)`,
        value: Math.max(...memory.map((p) => p.size)),
        cpuValue: null,
        goal: 10_000,
        compare: "<=",
        met: memory.every((p) => p.size <= 10_000),
      });
    }

    return {
      machine: await machine(wrkVersion, dir),
      options: {
        rounds: options.rounds,
        duration: options.duration,
        warmup: options.warmup,
        connections: options.connections,
        pool: options.pool,
        variants: chosen.map((v) => v.name),
        bareEvery: options.bareEvery,
        memory: options.memory,
        sessions: options.sessions,
        tag: options.tag,
      },
      pinned,
      bare,
      results,
      comparisons,
      writes: [...writes.values()],
      contention: [...contention.values()],
      memory,
      targets,
      pids,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    for (const server of servers.values()) await server.stop();
    await redis?.close();
    killAll();
    Deno.removeSignalListener("SIGINT", onSignal);
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Creates `options.sessions` distinct sessions (wrk on /write without a
 * cookie: each request makes one) against MemoryStore bounded at 10,000, and
 * reads the server's memory after a full GC at a few points.
 */
async function memoryCheck(
  options: HarnessOptions,
  pinned: boolean,
  dir: string,
  pids: number[],
): Promise<MemoryPoint[]> {
  log(options, `memory: ${options.sessions} sessions, maxSessions 10000`);
  const server = await startServer("memory", options, pinned, dir, {
    maxSessions: 10_000,
    gc: true,
  });
  pids.push(server.pid);
  const points: MemoryPoint[] = [];
  const started = performance.now();
  try {
    const point = async () => {
      const stats = await getJson(`${server.control}/stats?gc`);
      points.push({
        seconds: Math.round((performance.now() - started) / 100) / 10,
        created: stats.created,
        size: stats.size,
        rssMiB: Math.round(stats.rss / 2 ** 20 * 10) / 10,
        heapUsedMiB: Math.round(stats.heapUsed / 2 ** 20 * 10) / 10,
      });
      return stats.created;
    };
    let created = await point();
    // One-second chunks until `sessions` were created, and at least two;
    // bounded at 60 chunks.
    for (
      let chunk = 0;
      (created < options.sessions || chunk < 2) && chunk < 60;
      chunk++
    ) {
      allAnswered(
        "memory check /write",
        await wrk(server, "/write", 1, options, pinned),
      );
      created = await point();
    }
  } finally {
    await server.stop();
  }
  return points;
}

function log(options: HarnessOptions, line: string) {
  options.log(line);
}

const fixed = (value: number, digits = 2) => value.toFixed(digits);

/** The results as Markdown tables. */
export function toMarkdown(results: HarnessResults): string {
  const lines: string[] = [];
  const { options } = results;
  const range = (s: Spread | null, digits = 2) =>
    s === null ? "–" : `${fixed(s.min, digits)}–${fixed(s.max, digits)}`;
  const med = (s: Spread | null, digits = 2) =>
    s === null ? "–" : fixed(s.median, digits);
  lines.push(
    `${options.rounds} rounds × ${options.duration} s per run, warm-up ${options.warmup} s discarded, ${options.connections} connections, ${options.pool} sessions per variant, ${
      results.pinned ? "server on core 0, wrk on core 1" : "unpinned"
    }; ${Math.round(results.seconds)} s in all.`,
    "",
    Object.entries(results.machine).map(([k, v]) => `${k}: ${v}`).join("; ") +
      ".",
    "",
    "| variant | route | req/s ratio to bare | min–max | CPU ratio to bare | min–max | req/s | req/s min–max | server CPU µs/req | server busy | errors |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const r of results.results) {
    lines.push(
      `| ${r.variant} | ${r.route} | ${med(r.ratio)} | ${range(r.ratio)} | ${
        med(r.cpuRatio)
      } | ${range(r.cpuRatio)} | ${Math.round(r.rps.median)} | ${
        Math.round(r.rps.min)
      }–${Math.round(r.rps.max)} | ${med(r.cpuUs)} | ${med(r.busy)} | ${
        r.runs.reduce((sum, run) => sum + run.status + run.socket, 0)
      } |`,
    );
  }
  if (results.comparisons.length > 0) {
    lines.push(
      "",
      "| comparison (same round) | req/s median | min–max | CPU median | min–max |",
      "| --- | ---: | ---: | ---: | ---: |",
    );
    for (const c of results.comparisons) {
      lines.push(
        `| ${c.name} | ${med(c.ratio)} | ${range(c.ratio)} | ${
          med(c.cpuRatio)
        } | ${range(c.cpuRatio)} |`,
      );
    }
  }
  if (results.writes.length > 0) {
    lines.push(
      "",
      "| store (idleTimeout 1800 s, touchInterval 60 s) | /read runs | /read requests | store gets | store sets | most sets in one run | store deletes |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const w of results.writes) {
      lines.push(
        `| ${w.variant} | ${w.runs} | ${w.reads} | ${w.gets} | ${w.sets} | ${w.maxSetsPerRun} | ${w.deletes} |`,
      );
    }
  }
  if (results.contention.length > 0) {
    lines.push(
      "",
      `| store: /write-one (${options.connections} connections, one session) | requests | store writes | writes per request |`,
      "| --- | ---: | ---: | ---: |",
    );
    for (const c of results.contention) {
      lines.push(
        `| ${c.variant} | ${c.requests} | ${c.sets} | ${
          fixed(c.sets / c.requests, 3)
        } |`,
      );
    }
  }
  if (results.memory.length > 0) {
    lines.push(
      "",
      "| seconds | sessions created | store size | RSS MiB | heap used MiB (after GC) |",
      "| ---: | ---: | ---: | ---: | ---: |",
    );
    for (const p of results.memory) {
      lines.push(
        `| ${p.seconds} | ${p.created} | ${p.size} | ${p.rssMiB} | ${p.heapUsedMiB} |`,
      );
    }
  }
  if (results.targets.length > 0) {
    lines.push(
      "",
      "| target | req/s measure | CPU measure | goal | met (req/s) |",
      "| --- | ---: | ---: | ---: | --- |",
    );
    for (const t of results.targets) {
      lines.push(
        `| ${t.name} | ${
          Number.isInteger(t.value) ? t.value : fixed(t.value)
        } | ${t.cpuValue === null ? "–" : fixed(t.cpuValue)} | ${
          t.compare === "<=" ? `≤ ${t.goal}` : `≥ ${t.goal}`
        } | ${t.met ? "yes" : "**no**"} |`,
      );
    }
  }
  return lines.join("\n");
}
