// The store call deadlines (src/timeout.ts): one interval for every call in
// flight, running only while calls are in flight.

import assert from "node:assert/strict";
import { withinTimeout } from "../src/timeout.ts";

const timedOut = () => new Error("timed out");

Deno.test("withinTimeout: a call in time gives its value or its own error", async () => {
  assert.equal(await withinTimeout(Promise.resolve(7), 1_000, timedOut), 7);
  await assert.rejects(
    withinTimeout(Promise.reject(new Error("store down")), 1_000, timedOut),
    /store down/,
  );
});

Deno.test("withinTimeout: a call that never settles rejects after its timeout, though nothing else holds the process", async () => {
  // Nothing but the interval can end this wait: without it held, the test
  // runner would find the event loop empty with the promise pending.
  await assert.rejects(
    withinTimeout(new Promise(() => {}), 40, timedOut),
    /timed out/,
  );
});

/**
 * `promise`, or a rejection saying `what` was not done if it has not
 * settled in 10 s: a bound on how long a broken test waits, not a timing.
 */
async function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let guard: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        guard = setTimeout(() => reject(new Error(what)), 10_000);
      }),
    ]);
  } finally {
    clearTimeout(guard);
  }
}

Deno.test("withinTimeout: a shorter timeout than those in flight is kept", async () => {
  let release = () => {};
  const long = withinTimeout(
    new Promise<string>((resolve) => release = () => resolve("long")),
    3_600_000,
    timedOut,
  );
  await assert.rejects(
    bounded(
      withinTimeout(new Promise(() => {}), 40, timedOut),
      "the interval still ticks for the hour-long timeout",
    ),
    /timed out/,
  );
  release();
  assert.equal(await long, "long");
});

Deno.test("withinTimeout: setting the system clock back moves no deadline", async () => {
  const realNow = Date.now;
  const call = withinTimeout(new Promise(() => {}), 40, timedOut);
  // Set back an hour once the call is in flight.
  Date.now = () => realNow() - 3_600_000;
  try {
    await assert.rejects(
      bounded(call, "the deadline moved with the clock"),
      /timed out/,
    );
  } finally {
    Date.now = realNow;
  }
});

Deno.test("withinTimeout: once no call is in flight, the interval does not keep a process alive", async () => {
  const source = new URL("../src/timeout.ts", import.meta.url).href;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { withinTimeout } from ${JSON.stringify(source)};
       await withinTimeout(Promise.resolve(1), 3_600_000, () => new Error());
       console.log("done");`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  // Held, the interval would tick every 15 minutes: far past this bound.
  const kill = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    const { code, stdout } = await child.output();
    assert.equal(new TextDecoder().decode(stdout).trim(), "done");
    assert.equal(code, 0, "exited by itself");
  } finally {
    clearTimeout(kill);
  }
});
