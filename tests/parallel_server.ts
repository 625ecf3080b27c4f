/**
 * A `deno serve --parallel` entry for the tests: counts visits in the
 * session, on a KvStore over the file given as the first argument, or on a
 * MemoryStore without one. Answers `{ visits, worker }`, worker naming the
 * isolate that answered; `/worker` answers only the worker, with no session.
 *
 *   DENO_JOBS=2 deno serve --parallel ... tests/parallel_server.ts [KV_FILE]
 *
 * @module
 */

import {
  getSession,
  KvStore,
  MemoryStore,
  openKv,
  withSession,
} from "../mod.ts";

const worker = crypto.randomUUID();
const [kvPath] = Deno.args;
const store = kvPath === undefined
  ? new MemoryStore()
  : new KvStore(await openKv(kvPath));

export default {
  fetch: withSession(async (req) => {
    // Which isolate answers, without a session: for the test to wait for all.
    if (new URL(req.url).pathname === "/worker") return new Response(worker);
    const session = await getSession<{ visits: number }>(req);
    const visits = (session.get("visits") ?? 0) + 1;
    session.set("visits", visits);
    return Response.json({ visits, worker });
  }, { store }),
  // On stdout, as tests/example_server.ts waits for it (deno serve's own
  // line goes to stderr).
  onListen(addr) {
    if (addr.transport === "tcp") {
      console.log(`Listening on http://${addr.hostname}:${addr.port}/`);
    }
  },
} satisfies Deno.ServeDefaultExport;
