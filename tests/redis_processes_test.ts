// Two real server processes (tests/session_server.ts --store redis) on one
// redis-server: no update lost between them, no session brought back.

import assert from "node:assert/strict";
import { storeKey } from "../src/id.ts";
import { type ExampleServer, startSessionServer } from "./example_server.ts";
import { startRedis } from "./redis_helpers.ts";

/** The session server on Redis, with the least permissions it needs. */
const serve = (redisUrl: string) =>
  startSessionServer("redis", "", { redisUrl });

/** A request with the session cookie: the status, the data, and the cookie to keep. */
async function request(url: string, cookie: string | null) {
  const response = await fetch(url, {
    headers: cookie === null ? {} : { cookie },
  });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  const setCookie = response.headers.get("set-cookie");
  const pair = setCookie?.slice(0, setCookie.indexOf(";")) ?? null;
  return {
    data: JSON.parse(text) as Record<string, string>,
    cookie: pair === null ? cookie : pair.endsWith("=") ? null : pair,
  };
}

Deno.test("two server processes on one Redis lose no update and bring back no session", async (t) => {
  await using redis = await startRedis();
  const servers: ExampleServer[] = [];
  try {
    servers.push(...await Promise.all([serve(redis.url), serve(redis.url)]));
    const [a, b] = servers.map((server) => server.url);
    /** Whether Redis holds the session of `cookie` (by its store key). */
    const held = async (cookie: string) =>
      await redis.cli(
        "EXISTS",
        `session:${storeKey(cookie.slice(cookie.indexOf("=") + 1))}`,
      ) === "1";

    const first = await request(`${a}/set?start=1`, null);
    const cookie = first.cookie;
    assert.notEqual(cookie, null);
    assert.ok(await held(cookie!));

    await t.step(
      "writes through both, at once, on one session: all kept",
      async () => {
        const expected: Record<string, string> = { start: "1" };
        for (let round = 0; round < 10; round++) {
          const writes = [a, b, a, b].map((url, i) => {
            expected[`k${round}_${i}`] = url;
            return request(`${url}/set?k${round}_${i}=${url}`, cookie);
          });
          // Other users' sessions, created on both meanwhile.
          const others = [a, b].map((url) =>
            request(`${url}/set?other=1`, null)
          );
          await Promise.all([...writes, ...others]);
        }
        for (const url of [a, b]) {
          assert.deepEqual(
            (await request(`${url}/data`, cookie)).data,
            expected,
          );
        }
      },
    );

    await t.step(
      "a login through one: the other follows it, and the old id opens nothing",
      async () => {
        const before = (await request(`${a}/data`, cookie)).data;
        const login = await request(`${a}/rotate?user=ram`, cookie);
        assert.notEqual(login.cookie, cookie);
        assert.deepEqual((await request(`${b}/data`, login.cookie)).data, {
          ...before,
          user: "ram",
        });
        assert.deepEqual((await request(`${b}/data`, cookie)).data, {});
      },
    );

    await t.step(
      "a logout through one while the other writes: it stays logged out",
      async () => {
        const { cookie: session } = await request(`${a}/set?user=eve`, null);
        const writes = Array.from(
          { length: 40 },
          (_, i) => request(`${a}/set?w${i}=1`, session),
        );
        const logout = request(`${b}/flush`, session);
        const answers = await Promise.all([...writes, logout]);
        assert.equal(answers.at(-1)?.cookie, null);
        for (const url of [a, b]) {
          assert.deepEqual((await request(`${url}/data`, session)).data, {});
        }
        assert.equal(await held(session!), false);
        // A write that loaded before the logout and saved after it started a
        // session of its own, if any: never the logged-out one.
        for (const answer of answers) {
          if (answer.cookie !== null && answer.cookie !== session) {
            assert.equal(
              (await request(`${b}/data`, answer.cookie)).data.user,
              undefined,
            );
          }
        }
      },
    );
  } finally {
    const logs = await Promise.all(servers.map((server) => server.stop()));
    for (const log of logs) assert.equal(log, "", log);
  }
});
