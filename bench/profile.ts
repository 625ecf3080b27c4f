/**
 * Profiles one benchmark server under load: starts `bench/server.ts` with
 * `--cpu-prof`, creates a pool of sessions, runs wrk on a route, stops the
 * server (which writes the profile) and prints the functions with the most
 * self time, and the time spent under each function of `src/`.
 *
 *   deno run -A bench/profile.ts [--variant memory] [--route /read]
 *     [--duration 5] [--top 25] [--keep DIR]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startRedis } from "../tests/redis_helpers.ts";

const benchDir = new URL("./", import.meta.url);
const root = new URL("../", benchDir);

interface ProfileNode {
  id: number;
  callFrame: {
    functionName: string;
    url: string;
    lineNumber: number;
  };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time and total time per function, in share of all samples. */
export function summarize(profile: CpuProfile, top: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const selfCount = new Map<number, number>();
  for (const id of profile.samples) {
    selfCount.set(id, (selfCount.get(id) ?? 0) + 1);
  }
  const total = profile.samples.length;
  const name = (node: ProfileNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^.*\/(src|bench|ext|node_modules)\//, "$1/");
    return `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
  };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, count] of selfCount) {
    const node = byId.get(id)!;
    self.set(name(node), (self.get(name(node)) ?? 0) + count);
    const seen = new Set<string>();
    for (
      let at: number | undefined = id;
      at !== undefined;
      at = parent.get(at)
    ) {
      const key = name(byId.get(at)!);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + count);
    }
  }
  const pct = (n: number) => `${(100 * n / total).toFixed(1)}%`.padStart(6);
  const lines = [`${total} samples`, "", "self time:"];
  for (
    const [key, count] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)
  ) {
    lines.push(`${pct(count)}  ${key}`);
  }
  lines.push("", "total time, functions of src/ and bench/:");
  for (
    const [key, count] of [...inclusive].filter(([k]) =>
      / (src|bench)\//.test(k)
    ).sort((a, b) => b[1] - a[1]).slice(0, top)
  ) {
    lines.push(`${pct(count)}  ${key}`);
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      variant: { type: "string", default: "memory" },
      route: { type: "string", default: "/read" },
      duration: { type: "string", default: "5" },
      top: { type: "string", default: "25" },
      keep: { type: "string" },
      pool: { type: "string", default: "200" },
    },
  });
  const dir = values.keep ?? await Deno.makeTempDir({ prefix: "cpuprof_" });
  await Deno.mkdir(dir, { recursive: true });
  // The Redis variants' redis-server, on the server's core, as in the harness.
  await using redis = values.variant.startsWith("redis")
    ? await startRedis({ cpus: "0" })
    : null;
  const child = new Deno.Command("taskset", {
    args: [
      "-c",
      "0",
      Deno.execPath(),
      "run",
      "--cpu-prof",
      `--cpu-prof-dir=${dir}`,
      "--allow-net=127.0.0.1",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      new URL("server.ts", benchDir).pathname,
      "--variant",
      values.variant,
      "--kv-path",
      `${dir}/bench.kv`,
      "--file-dir",
      `${dir}/sessions`,
      ...(redis === null ? [] : ["--redis-url", redis.url]),
    ],
    cwd: root,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let output = "";
    while (!output.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`server exited: ${output}`);
      output += value;
    }
    reader.releaseLock();
    const base = output.match(/(http:\/\/127\.0\.0\.1:\d+)\//)![1];
    const cookies: string[] = [];
    for (let i = 0; i < Number(values.pool); i++) {
      const response = await fetch(`${base}/write`);
      await response.body?.cancel();
      cookies.push(response.headers.get("set-cookie")!.split(";")[0]);
    }
    const file = `${dir}/cookies`;
    await Deno.writeTextFile(file, cookies.join("\n") + "\n");
    const { stdout } = await new Deno.Command("taskset", {
      args: [
        "-c",
        "1",
        "wrk",
        "-t1",
        "-c50",
        `-d${values.duration}s`,
        "-s",
        new URL("pool.lua", benchDir).pathname,
        `${base}${values.route}`,
        "--",
        values.route,
        file,
      ],
    }).output();
    const line = new TextDecoder().decode(stdout).trim().split("\n").at(-1);
    console.log(`wrk: ${line}`);
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
  const files = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.endsWith(`.${child.pid}.cpuprofile`)) {
      files.push(`${dir}/${entry.name}`);
    }
  }
  if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}`);
  const profile = JSON.parse(await Deno.readTextFile(files[0]));
  console.log(summarize(profile, Number(values.top)));
  if (values.keep === undefined) await Deno.remove(dir, { recursive: true });
  else console.log(`profile kept in ${files[0]}`);
}
