/**
 * `deno task bench`: the micro benchmarks (`deno bench`), then the HTTP
 * harness, then its results as Markdown tables on stdout. Bounded: about
 * four to five minutes with the defaults; every process it starts is stopped
 * before it exits.
 *
 *   deno task bench [--rounds 3] [--duration 2] [--warmup 1]
 *     [--connections 50] [--pool 200] [--variants floor,memory,...]
 *     [--bare-every 2] [--sessions 200000] [--no-memory] [--no-micro]
 *     [--json FILE] [--markdown FILE] [--tag TAG]
 *   deno task bench --smoke     # one short round of everything, no micro
 *
 * @module
 */

import { parseArgs } from "node:util";
import { runHarness, toMarkdown } from "./http.ts";
import { variants } from "./variants.ts";

const benchDir = new URL("./", import.meta.url);

/** Runs the micro benchmarks in a child `deno bench`, output inherited. */
async function micro(): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "bench",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      new URL("micro_bench.ts", benchDir).pathname,
    ],
    cwd: new URL("../", benchDir),
    stdin: "null",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
  const status = await child.status;
  clearTimeout(timer);
  if (!status.success) throw new Error("deno bench failed");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      smoke: { type: "boolean", default: false },
      rounds: { type: "string" },
      duration: { type: "string" },
      warmup: { type: "string" },
      connections: { type: "string", default: "50" },
      pool: { type: "string" },
      variants: { type: "string" },
      "bare-every": { type: "string" },
      sessions: { type: "string" },
      "no-memory": { type: "boolean", default: false },
      "no-micro": { type: "boolean", default: false },
      json: { type: "string" },
      markdown: { type: "string" },
      tag: { type: "string" },
    },
  });
  const smoke = values.smoke;
  const whole = (name: string, value: string, min: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) {
      throw new TypeError(`--${name} must be a whole number >= ${min}`);
    }
    return n;
  };
  if (!smoke && !values["no-micro"]) await micro();
  const results = await runHarness({
    rounds: whole("rounds", values.rounds ?? (smoke ? "1" : "3"), 1),
    duration: whole("duration", values.duration ?? (smoke ? "1" : "2"), 1),
    warmup: whole("warmup", values.warmup ?? (smoke ? "0" : "1"), 0),
    connections: whole("connections", values.connections, 1),
    pool: whole("pool", values.pool ?? (smoke ? "100" : "200"), 1),
    variants: values.variants?.split(",") ?? variants.map((v) => v.name),
    bareEvery: whole(
      "bare-every",
      values["bare-every"] ?? (smoke ? "100" : "2"),
      1,
    ),
    memory: !values["no-memory"],
    sessions: whole(
      "sessions",
      values.sessions ?? (smoke ? "1000" : "200000"),
      1,
    ),
    tag: values.tag ?? `session-bench-${Deno.pid}`,
    log: (line) => console.error(line),
  });
  const markdown = toMarkdown(results);
  if (values.json !== undefined) {
    await Deno.writeTextFile(values.json, JSON.stringify(results, null, 2));
  }
  if (values.markdown !== undefined) {
    await Deno.writeTextFile(values.markdown, markdown + "\n");
  }
  console.log(markdown);
}
