/**
 * One short round of the benchmark harness, so that it cannot rot: every
 * variant and route must come out with a ratio to bare, and no process it
 * started may outlive it. Needs `wrk` and `redis-server` (Debian:
 * `apt-get install -y wrk redis-server`).
 */

import assert from "node:assert/strict";
import type { HarnessResults } from "../bench/http.ts";
import { checkWrk } from "../bench/http.ts";
import { variants } from "../bench/variants.ts";

const root = new URL("../", import.meta.url);

/** Every process's id and command line, from `ps`. */
async function processes(): Promise<{ pid: number; args: string }[]> {
  const { stdout } = await new Deno.Command("ps", {
    args: ["-eo", "pid=,args="],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(stdout).split("\n").filter((l) => l.trim())
    .map((line) => {
      const [, pid, args] = line.match(/^\s*(\d+)\s+(.*)$/)!;
      return { pid: Number(pid), args };
    });
}

Deno.test("bench smoke: one short round of every variant and route, nothing left running", async () => {
  try {
    await checkWrk();
  } catch (error) {
    throw new Error(
      `${
        (error as Error).message
      }\nThe bench smoke test needs wrk: run \`apt-get install -y wrk\`.`,
    );
  }
  const tag = `bench-smoke-${crypto.randomUUID()}`;
  const json = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const config = JSON.parse(
      await Deno.readTextFile(new URL("deno.json", root)),
    );
    // The task's own command line, with the smoke flags.
    const [deno, ...taskArgs] = (config.tasks.bench as string).split(" ");
    assert.equal(deno, "deno");
    const child = new Deno.Command(Deno.execPath(), {
      args: [...taskArgs, "--smoke", "--json", json, "--tag", tag],
      cwd: root,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    const { success, stdout, stderr } = await child.output();
    clearTimeout(timer);
    const output = new TextDecoder().decode(stdout) +
      new TextDecoder().decode(stderr);
    assert.ok(success, `the harness failed:\n${output}`);

    const results: HarnessResults = JSON.parse(await Deno.readTextFile(json));
    for (const variant of variants) {
      for (const route of variant.routes) {
        const result = results.results.find((r) =>
          r.variant === variant.name && r.route === route
        );
        assert.ok(result, `no result for ${variant.name} ${route}`);
        assert.ok(
          result.ratio.median > 0 && Number.isFinite(result.ratio.median),
          `${variant.name} ${route}: ratio ${result.ratio.median}`,
        );
        assert.ok(result.cpuRatio !== null && result.cpuRatio.median > 0);
        for (const run of result.runs) {
          assert.ok(run.requests > 0, `${variant.name} ${route}: no requests`);
          // A 409 on /read would mean a cookie of the pool found no session.
          assert.equal(run.status, 0, `${variant.name} ${route}: non-2xx`);
        }
      }
    }
    for (const store of ["memory", "memory-secrets", "kv", "file", "redis"]) {
      const count = results.writes.find((w) => w.variant === store);
      assert.ok(count && count.reads > 0, `no write count for ${store}`);
      // Every connection on one session: counted, and (the harness fails
      // any run with an error) none failed.
      const contended = results.contention.find((c) => c.variant === store);
      assert.ok(
        contended && contended.requests > 0,
        `no /write-one for ${store}`,
      );
    }
    assert.ok(results.memory.length >= 2, "memory points");
    assert.ok(results.memory.every((p) => p.size <= 10_000));
    assert.ok(output.includes("| memory | /read |"), "the Markdown table");

    // Nothing the harness started is still running.
    assert.ok(results.pids.length >= variants.length);
    const left = (await processes()).filter((p) =>
      p.args.includes(tag) || results.pids.includes(p.pid)
    );
    assert.deepEqual(left, [], "processes left behind");
  } finally {
    await Deno.remove(json);
  }
});
