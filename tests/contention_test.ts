// Parallel requests on one session over real HTTP, on every store, in one
// server process and in two: none fails, none is lost, and the store writes
// stay well under one per request.

import assert from "node:assert/strict";
import {
  type Answer,
  type ExampleServer,
  send,
  startSessionServer,
  stats,
} from "./example_server.ts";
import { type RedisServer, startRedis } from "./redis_helpers.ts";

const PARALLEL = 200;

/** The store writes the servers made so far. */
async function writesOf(servers: ExampleServer[]) {
  let writes = 0;
  for (const server of servers) {
    const { sets, deletes } = await stats(server);
    writes += sets + deletes;
  }
  return writes;
}

/** Where the data of the session in `cookie` is now, as a server answers it. */
async function dataOf(server: ExampleServer, cookie: string) {
  return (await send(`${server.url}/data`, cookie)).data;
}

/** Sets `k{i}` in parallel through the servers in turn; the answers, and the writes they cost. */
async function parallelWrites(
  servers: ExampleServer[],
  cookie: string,
  extra: () => Promise<Answer> = () =>
    Promise.resolve({ status: 200, data: {}, cookie: null }),
  extraAfter = 0,
) {
  const before = await writesOf(servers);
  const answers: Promise<Answer>[] = [];
  let acknowledged = 0;
  let extraAnswer: Promise<Answer> | null = null;
  let startExtra!: () => void;
  const extraStarted = new Promise<void>((resolve) => (startExtra = resolve));
  for (let i = 0; i < PARALLEL; i++) {
    const server = servers[i % servers.length];
    answers.push(
      send(`${server.url}/set?k${i}=${i}`, cookie).then((answer) => {
        if (++acknowledged === extraAfter) startExtra();
        return answer;
      }),
    );
  }
  if (extraAfter === 0) startExtra();
  await extraStarted;
  extraAnswer = extra();
  const all = await Promise.all(answers);
  const last = await extraAnswer;
  const writes = await writesOf(servers) - before;
  return { answers: all, extra: last, writes };
}

/** Every answer was a 200. */
function assertAllOk(answers: Answer[]) {
  const failed = answers.filter((answer) => answer.status !== 200);
  assert.deepEqual(failed, [], `${failed.length} of ${answers.length} failed`);
}

/** Opens a session holding base=0; its cookie. */
async function begin(server: ExampleServer): Promise<string> {
  const first = await send(`${server.url}/set?base=0`, null);
  assert.equal(first.status, 200);
  assert.notEqual(first.cookie, null);
  return first.cookie!;
}

/**
 * Prints the store writes per request. A KV, file or Redis write takes long
 * enough for the requests arriving meanwhile to be written together with the
 * next one; a MemoryStore write is done before the next request arrives, so there
 * each request writes once, and nothing is gained by waiting.
 */
function report(store: string, label: string, writes: number) {
  const perRequest = writes / PARALLEL;
  console.log(
    `${store}, ${label}: ${PARALLEL} writes, ${writes} store writes (${
      perRequest.toFixed(3)
    } per request)`,
  );
  const bound = store === "memory" ? 1 : 0.25;
  assert.ok(perRequest <= bound, `${perRequest} store writes per request`);
}

for (const store of ["memory", "kv", "file", "redis"]) {
  Deno.test(`parallel requests on one session, over HTTP, on the ${store} store`, async (t) => {
    const dir = await Deno.makeTempDir({ prefix: `contention_${store}_` });
    const path = store === "kv"
      ? `${dir}/sessions.kv`
      : store === "file"
      ? dir
      : "";
    const redis: RedisServer | null = store === "redis"
      ? await startRedis()
      : null;
    const servers: ExampleServer[] = [];
    try {
      const redisUrl = redis?.url ?? "";
      servers.push(await startSessionServer(store, path, { redisUrl }));
      if (store !== "memory") {
        servers.push(await startSessionServer(store, path, { redisUrl }));
      }
      const [one] = servers;

      await t.step(
        `${PARALLEL} writes, each its own key: all kept`,
        async () => {
          const cookie = await begin(one);
          const { answers, writes } = await parallelWrites([one], cookie);
          assertAllOk(answers);
          const data = await dataOf(one, cookie);
          for (let i = 0; i < PARALLEL; i++) {
            assert.equal(data[`k${i}`], `${i}`);
          }
          report(store, "one process", writes);
        },
      );

      if (servers.length === 2) {
        await t.step(
          `${PARALLEL} writes through two processes: all kept`,
          async () => {
            const cookie = await begin(one);
            const { answers, writes } = await parallelWrites(servers, cookie);
            assertAllOk(answers);
            for (const server of servers) {
              const data = await dataOf(server, cookie);
              for (let i = 0; i < PARALLEL; i++) {
                assert.equal(data[`k${i}`], `${i}`, `k${i} via ${server.url}`);
              }
            }
            report(store, "two processes", writes);
          },
        );
      }

      await t.step(
        "mixed with a request that empties the session: all kept",
        async () => {
          // The emptying request deletes the only key it may have seen; once a
          // write is stored, the merged session is never empty.
          const cookie = await begin(one);
          const { answers, extra } = await parallelWrites(
            servers,
            cookie,
            () => send(`${one.url}/delete?base`, cookie),
            1,
          );
          assertAllOk([...answers, extra]);
          const data = await dataOf(one, cookie);
          assert.equal(data.base, undefined);
          for (let i = 0; i < PARALLEL; i++) {
            assert.equal(data[`k${i}`], `${i}`);
          }
        },
      );

      await t.step(
        "mixed with a login (rotate): every write lands somewhere its client can reach",
        async () => {
          const cookie = await begin(one);
          const { answers, extra: login } = await parallelWrites(
            servers,
            cookie,
            () => send(`${one.url}/rotate?user=ram`, cookie),
            PARALLEL / 4,
          );
          assertAllOk([...answers, login]);
          assert.notEqual(login.cookie, null);
          assert.notEqual(login.cookie, cookie);
          const rotated = await dataOf(one, login.cookie!);
          assert.equal(rotated.user, "ram");
          assert.deepEqual(
            await dataOf(one, cookie),
            {},
            "the old id opens nothing",
          );
          let landed = 0, fresh = 0;
          for (const [i, answer] of answers.entries()) {
            if (answer.cookie === null || answer.cookie === cookie) {
              // Stored before the rotation (which carried it over), or after
              // it, on the rotated session.
              assert.equal(rotated[`k${i}`], `${i}`, `k${i}`);
              landed++;
            } else {
              // Loaded after the login with the old id, which opens nothing:
              // a new session of its own.
              assert.deepEqual(await dataOf(one, answer.cookie), {
                [`k${i}`]: `${i}`,
              });
              fresh++;
            }
          }
          console.log(
            `${store}, with a login: ${landed} writes on the rotated session, ${fresh} in new sessions`,
          );
        },
      );

      await t.step(
        "mixed with a logout: nothing fails, nothing comes back",
        async () => {
          const cookie = await begin(one);
          const { answers, extra: logout } = await parallelWrites(
            servers,
            cookie,
            () => send(`${one.url}/flush`, cookie),
            PARALLEL / 4,
          );
          assertAllOk([...answers, logout]);
          assert.match(logout.cookie ?? "", /^sessionid=$/);
          for (const server of servers) {
            assert.deepEqual(await dataOf(server, cookie), {});
          }
          for (const [i, answer] of answers.entries()) {
            if (answer.cookie === null || answer.cookie === cookie) {
              continue;
            }
            // Loaded after the logout: a new session of its own.
            assert.deepEqual(await dataOf(one, answer.cookie), {
              [`k${i}`]: `${i}`,
            });
          }
        },
      );
    } finally {
      for (const server of servers) {
        const log = await server.stop();
        assert.equal(log, "", log);
      }
      await redis?.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
