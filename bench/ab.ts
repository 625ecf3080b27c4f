/**
 * A/B on one route: two variants' servers side by side (pinned to core 0,
 * wrk to core 1), measured in turn, A B A B ... A, for short runs. Each B run
 * is divided by the mean of the two A runs around it, so that load from
 * other processes on the machine, which changes over seconds, falls mostly
 * on both. Prints the median and quartiles of those ratios, of req/s and of
 * server CPU per request; the harness's between-variant comparisons can be
 * checked with it.
 *
 *   deno run -A bench/ab.ts --a floor-headers --b memory --route /write
 *     [--runs 15] [--duration 1] [--connections 50] [--pool 200]
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  allAnswered,
  hasTaskset,
  killAll,
  makePool,
  type Server,
  startServer,
  wrk,
  type WrkResult,
} from "./http.ts";
import type { Route } from "./variants.ts";

/** The median and quartiles of `values`. */
function quartiles(values: number[]): [number, number, number] {
  const sorted = [...values].sort((x, y) => x - y);
  const at = (q: number) => sorted[Math.round(q * (sorted.length - 1))];
  return [at(0.25), at(0.5), at(0.75)];
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      a: { type: "string", default: "floor-headers" },
      b: { type: "string", default: "memory" },
      route: { type: "string", default: "/read" },
      runs: { type: "string", default: "15" },
      duration: { type: "string", default: "1" },
      connections: { type: "string", default: "50" },
      pool: { type: "string", default: "200" },
    },
  });
  const route = values.route as Route;
  const options = {
    rounds: 1,
    duration: Number(values.duration),
    warmup: 0,
    connections: Number(values.connections),
    pool: Number(values.pool),
    variants: [values.a, values.b],
    bareEvery: 1,
    memory: false,
    sessions: 0,
    tag: `session-ab-${Deno.pid}`,
    log: () => {},
  };
  const pinned = navigator.hardwareConcurrency >= 2 && await hasTaskset();
  const dir = await Deno.makeTempDir({ prefix: "session_ab_" });
  const servers: Server[] = [];
  try {
    for (const variant of [values.a, values.b]) {
      servers.push(await startServer(variant, options, pinned, dir));
    }
    const files: string[] = [];
    for (const server of servers) {
      const cookies = await makePool(server.base, options.pool);
      const file = `${dir}/${server.variant}.cookies`;
      const chosen = route === "/write-one" ? cookies.slice(0, 1) : cookies;
      await Deno.writeTextFile(file, chosen.join("\n") + "\n");
      files.push(file);
    }
    const run = async (i: number): Promise<WrkResult> =>
      allAnswered(
        `${servers[i].variant} ${route}`,
        await wrk(
          servers[i],
          route,
          options.duration,
          options,
          pinned,
          files[i],
        ),
      );
    await run(0); // warm-up, both
    await run(1);
    const rps: number[] = [];
    const cpu: number[] = [];
    let before = await run(0);
    for (let i = 0; i < Number(values.runs); i++) {
      const b = await run(1);
      const after = await run(0);
      rps.push(b.rps / ((before.rps + after.rps) / 2));
      if (
        b.cpu_us !== null && before.cpu_us !== null && after.cpu_us !== null
      ) {
        cpu.push((before.cpu_us + after.cpu_us) / 2 / b.cpu_us);
      }
      before = after;
    }
    const show = (name: string, series: number[]) => {
      if (series.length === 0) return;
      const [low, median, high] = quartiles(series);
      console.log(
        `${values.b} ÷ ${values.a} ${route}, ${name}: median ${
          median.toFixed(3)
        } (quartiles ${low.toFixed(3)}–${
          high.toFixed(3)
        }, ${series.length} pairs)`,
      );
    };
    show("req/s", rps);
    show("CPU per request (inverted)", cpu);
  } finally {
    for (const server of servers) await server.stop();
    killAll();
    await Deno.remove(dir, { recursive: true });
  }
}
