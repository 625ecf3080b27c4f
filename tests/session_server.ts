/**
 * A session server for the tests over real HTTP, run as its own process:
 *
 *   deno run ... tests/session_server.ts --store memory|kv|file [--path P]
 *     [--port 0] [--max-sessions N]
 *
 * It prints `Listening on http://127.0.0.1:PORT/` and answers:
 *
 *   GET /set?k=v&...   sets each pair          GET /delete?k&...  deletes each
 *   GET /rotate?k=v    rotate(), then sets     GET /flush         flush()
 *   GET /data          the data as JSON        GET /stats         store calls
 *
 * Every route but /stats answers the session's data after its changes.
 * /stats also gives the MemoryStore's size (null for the others), how many
 * client connections the server has seen, and `Deno.memoryUsage()`, after a full garbage collection when the server
 * runs with `--v8-flags=--expose-gc`. `--max-sessions` bounds a
 * MemoryStore.
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
import { CountingStore } from "./helpers.ts";

async function openStore(
  kind: string,
  path: string,
  maxSessions: number | undefined,
): Promise<SessionStore> {
  switch (kind) {
    case "memory":
      return new MemoryStore({ maxSessions });
    case "kv":
      return new KvStore(await Deno.openKv(path));
    case "file":
      return new FileStore(path);
  }
  throw new TypeError(`--store must be memory, kv or file, got ${kind}`);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      store: { type: "string", default: "memory" },
      path: { type: "string", default: "" },
      port: { type: "string", default: "0" },
      "max-sessions": { type: "string" },
    },
  });
  const maxSessions = values["max-sessions"];
  const store = new CountingStore(
    await openStore(
      values.store,
      values.path,
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
    const params = [...url.searchParams];
    switch (url.pathname) {
      case "/rotate":
        await session.rotate();
        for (const [key, value] of params) session.set(key, value);
        break;
      case "/set":
        for (const [key, value] of params) session.set(key, value);
        break;
      case "/delete":
        for (const [key] of params) session.delete(key);
        break;
      case "/flush":
        await session.flush();
        break;
    }
    return Response.json(Object.fromEntries(session.entries()));
  }, { store });
  Deno.serve({
    hostname: "127.0.0.1",
    port: Number(values.port),
    onListen: ({ port }) =>
      console.log(`Listening on http://127.0.0.1:${port}/`),
  }, handler);
}
