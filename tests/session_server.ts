/**
 * A session server for the tests over real HTTP, run as its own process:
 *
 *   deno run ... tests/session_server.ts --store memory|kv|file|redis
 *     [--path P] [--redis-url redis://127.0.0.1:PORT] [--port 0]
 *     [--header NAME] [--secret S] [--max-sessions N]
 *
 * It prints `Listening on http://127.0.0.1:PORT/` and answers:
 *
 *   GET /set?k=v&...   sets each pair          GET /delete?k&...  deletes each
 *   GET /rotate?k=v    rotate(), then sets     GET /flush         flush()
 *   GET /data          the data as JSON        GET /stats         store calls
 *   GET /test-cookie   {worked}; with ?set, setTestCookie() first
 *
 * Every route but /stats and /test-cookie answers the session's data after
 * its changes. /stats also gives the MemoryStore's size (null for the
 * others), how many client connections the server has seen, and
 * `Deno.memoryUsage()`, after a full garbage collection when the server runs
 * with `--v8-flags=--expose-gc`. `--header` and `--secret` are the `header`
 * and `secrets` options; `--max-sessions` bounds a MemoryStore.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  FileStore,
  getSession,
  KvStore,
  MemoryStore,
  type SessionStore,
  withSession,
} from "../mod.ts";
import { RedisStore } from "../redis.ts";
import { applyRoute, CountingStore } from "./helpers.ts";
import { createClient } from "redis";

async function openStore(
  kind: string,
  path: string,
  redisUrl: string,
  maxSessions: number | undefined,
): Promise<SessionStore> {
  switch (kind) {
    case "memory":
      return new MemoryStore({ maxSessions });
    case "kv":
      return new KvStore(await Deno.openKv(path));
    case "file":
      return new FileStore(path);
    case "redis": {
      // As README says; ioredis is not loaded here: it wants --allow-env.
      const client = createClient({ url: redisUrl, disableOfflineQueue: true });
      client.on("error", () => {}); // each command that fails rejects
      return new RedisStore(await client.connect());
    }
  }
  throw new TypeError(`--store must be memory, kv, file or redis, got ${kind}`);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      store: { type: "string", default: "memory" },
      path: { type: "string", default: "" },
      "redis-url": { type: "string", default: "" },
      port: { type: "string", default: "0" },
      header: { type: "string" },
      secret: { type: "string" },
      "max-sessions": { type: "string" },
    },
  });
  const maxSessions = values["max-sessions"];
  const store = new CountingStore(
    await openStore(
      values.store,
      values.path,
      values["redis-url"],
      maxSessions === undefined ? undefined : Number(maxSessions),
    ),
  );
  const gc = (globalThis as { gc?: () => void }).gc;
  /** The client connections seen, by remote address and port. */
  const connections = new Set<string>();
  const handler = withSession(async (req, info) => {
    const { hostname, port } = info.remoteAddr as Deno.NetAddr;
    connections.add(`${hostname}:${port}`);
    const url = new URL(req.url);
    if (url.pathname === "/stats") {
      gc?.();
      return Response.json({
        gets: store.gets,
        sets: store.sets,
        deletes: store.deletes,
        size: store.inner instanceof MemoryStore ? store.inner.size : null,
        connections: connections.size,
        memory: Deno.memoryUsage(),
      });
    }
    const session = await getSession(req);
    if (url.pathname === "/test-cookie") {
      if (url.searchParams.has("set")) session.setTestCookie();
      return Response.json({ worked: session.testCookieWorked() });
    }
    await applyRoute(session, url.pathname, [...url.searchParams]);
    return Response.json(Object.fromEntries(session.entries()));
  }, {
    store,
    header: values.header,
    secrets: values.secret === undefined ? undefined : [values.secret],
  });
  Deno.serve({
    hostname: "127.0.0.1",
    port: Number(values.port),
    onListen: ({ port }) =>
      console.log(`Listening on http://127.0.0.1:${port}/`),
  }, handler);
}
