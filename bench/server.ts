/**
 * One benchmark server: `deno run bench/server.ts --variant NAME`. Prints
 * `Listening on http://127.0.0.1:PORT/ control http://127.0.0.1:PORT2/ pid
 * PID` once it accepts connections. Every variant answers the same routes on
 * PORT:
 *
 *   GET /bare    no session touched
 *   GET /read    reads "n" from the session; 409 when the cookie found none
 *   GET /write   sets "n" to a new value every request (creates a session
 *                when the request has no valid cookie)
 *   GET /write-one the same; the harness sends every connection one cookie
 *
 * and on PORT2, a second listener in the same process that leaves the
 * measured handler as it is (bare Deno.serve stays bare):
 *
 *   GET /stats   store call counts, sessions created, memory, as JSON; `?gc`
 *                collects garbage first (with `--v8-flags=--expose-gc`)
 *
 * A 409 on /read counts as an error in wrk's report, so a run in which any
 * cookie failed to find its session is caught by the harness.
 *
 * With a cookie store (`cookie`, `hono-sessions-cookie`) the session is the
 * cookie: every /write answers with a new one, which wrk does not keep, so
 * each /write opens the pool cookie's session and writes onto it again (a
 * browser that ignored the reply); /read finds the value the pool's /write
 * sealed in.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  CookieStore,
  FileStore,
  getSession,
  KvStore,
  MemoryStore,
  withSession,
} from "../mod.ts";
import type { SessionOptions, SessionStore } from "../mod.ts";
import { RedisStore } from "../redis.ts";
import { CountingStore } from "../tests/helpers.ts";
import { nodeRedisClient } from "../tests/redis_helpers.ts";
import type { Session as HonoSession } from "hono-sessions";
import { variantNames } from "./variants.ts";

/** The path of a request URL without parsing it as a URL. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const query = url.indexOf("?", start);
  return query === -1 ? url.slice(start) : url.slice(start, query);
}

const text = (body: string, status = 200) => new Response(body, { status });

let counter = 0;
let created = 0;

/** The control listener's answer: see the module documentation. */
function stats(url: string, counts: Record<string, number>): Response {
  if (url.includes("?gc")) {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
  }
  const memory = Deno.memoryUsage();
  return Response.json({
    ...counts,
    created,
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
  });
}

/** A variant: the measured handler and its counts for /stats. */
interface Served {
  handler: Deno.ServeHandler;
  counts(): Record<string, number>;
}

/**
 * Our library over a store, with the idle timeout the targets speak of: 30
 * minutes, refreshed at most once a minute.
 */
function ours(
  store: SessionStore,
  counts: () => Record<string, number>,
  extra: SessionOptions = {},
): Served {
  const handler = withSession(async (req) => {
    const path = pathOf(req.url);
    if (path === "/read") {
      const session = await getSession<{ n: number; user: string }>(req);
      const n = session.get("n");
      return n === undefined ? text("no session", 409) : text(`n=${n}`);
    }
    if (path === "/write" || path === "/write-one") {
      const session = await getSession<{ n: number; user: string }>(req);
      if (session.isNew) created++;
      const n = ++counter;
      session.set("n", n);
      if (!session.has("user")) session.set("user", `user-${n}`);
      return text(`n=${n}`);
    }
    return text("ok");
  }, { store, idleTimeout: 1800, touchInterval: 60, ...extra });
  return { handler, counts };
}

/** The counts of a counted store, and its size where it has one. */
function counted(store: CountingStore, size: () => number | undefined) {
  return () => {
    const n = size();
    return {
      gets: store.gets,
      sets: store.sets,
      deletes: store.deletes,
      ...(n === undefined ? {} : { size: n }),
    };
  };
}

/**
 * A CookieStore has no store calls to count: its read is opening the
 * request's cookie and its write is sealing a new one. Counted instead, in
 * the store's terms: a "get" per request that sent a cookie, a "set" per
 * response that sends one (on /read, a due touch), never a delete.
 */
function countedCookies(served: Served): Served {
  let gets = 0;
  let sets = 0;
  const inner = served.handler;
  const handler: Deno.ServeHandler = async (req, info) => {
    if (req.headers.has("cookie")) gets++;
    const response = await inner(req, info);
    if (response.headers.has("set-cookie")) sets++;
    return response;
  };
  return { handler, counts: () => ({ gets, sets, deletes: 0 }) };
}

/**
 * The floor: what any server-side session costs at least. Cookie parse, Map
 * lookup, JSON.parse; on write JSON.stringify, Map set and a Set-Cookie; an
 * unsigned random id. No expiry, no bound, no digest, no concurrency control.
 * With `headers`, it also sends what our middleware must: `Vary: Cookie`,
 * and a cookie with Max-Age and Expires, added to the handler's response.
 */
function floor(headers = false): Served {
  const sessions = new Map<string, string>();
  const handler: Deno.ServeHandler = (req) => {
    const path = pathOf(req.url);
    if (path === "/read") {
      const sid = sidOf(req);
      const stored = sid === null ? undefined : sessions.get(sid);
      if (stored === undefined) return text("no session", 409);
      const data = JSON.parse(stored) as { n: number };
      const response = text(`n=${data.n}`);
      if (headers) response.headers.set("vary", "Cookie");
      return response;
    }
    if (path === "/write") {
      let sid = sidOf(req);
      const stored = sid === null ? undefined : sessions.get(sid);
      const data = stored === undefined ? {} : JSON.parse(stored);
      if (stored === undefined) {
        sid = crypto.randomUUID();
        created++;
      }
      const n = ++counter;
      data.n = n;
      data.user ??= `user-${n}`;
      sessions.set(sid!, JSON.stringify(data));
      if (headers) {
        // What our middleware sends: Vary, a cookie with Max-Age and
        // Expires, and Cache-Control: private (a response that sets the
        // session cookie is kept out of shared caches), all added to the
        // handler's response.
        const response = text(`n=${n}`);
        const expires = new Date(Date.now() + 1_209_600_000).toUTCString();
        response.headers.set("vary", "Cookie");
        response.headers.set("cache-control", "private");
        response.headers.append(
          "set-cookie",
          `sid=${sid}; Path=/; Max-Age=1209600; Expires=${expires}; HttpOnly; SameSite=Lax`,
        );
        return response;
      }
      return new Response(`n=${n}`, {
        headers: {
          "set-cookie": `sid=${sid}; Path=/; HttpOnly; SameSite=Lax`,
        },
      });
    }
    return text("ok");
  };
  return { handler, counts: () => ({ size: sessions.size }) };
}

/** The floors' cookie parse: the value of `sid`. */
function sidOf(req: Request): string | null {
  const header = req.headers.get("cookie");
  if (header === null) return null;
  for (const part of header.split(";")) {
    const equals = part.indexOf("=");
    if (equals !== -1 && part.slice(0, equals).trim() === "sid") {
      return part.slice(equals + 1).trim();
    }
  }
  return null;
}

/**
 * The floor of a store that keeps JSON per session: on /read the cookie
 * parse, one `load` (one kv.get, one file read, one GET), JSON.parse and `Vary:
 * Cookie`; /write (for the harness's pool) a save and a cookie. No digest, no
 * expiry, no concurrency control.
 */
function storeFloor(
  load: (sid: string) => Promise<string | null>,
  save: (sid: string, json: string) => Promise<void>,
): Served {
  const handler: Deno.ServeHandler = async (req) => {
    const path = pathOf(req.url);
    if (path === "/read") {
      const sid = sidOf(req);
      const stored = sid === null ? null : await load(sid);
      if (stored === null) return text("no session", 409);
      const data = JSON.parse(stored) as { n: number };
      const response = text(`n=${data.n}`);
      response.headers.set("vary", "Cookie");
      return response;
    }
    if (path === "/write") {
      const sid = crypto.randomUUID();
      created++;
      const n = ++counter;
      await save(sid, JSON.stringify({ n, user: `user-${n}` }));
      return new Response(`n=${n}`, {
        headers: { "set-cookie": `sid=${sid}; Path=/; HttpOnly; SameSite=Lax` },
      });
    }
    return text("ok");
  };
  return { handler, counts: () => ({}) };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Hono with hono-sessions from npm and its MemoryStore, or with `cookie` its
 * CookieStore (which requires the encryption key).
 */
async function hono(encryptionKey?: string, cookie = false): Promise<Served> {
  const { Hono } = await import("hono");
  const {
    sessionMiddleware,
    MemoryStore: HonoMemoryStore,
    CookieStore: HonoCookieStore,
  } = await import("hono-sessions");
  const app = new Hono<{
    Variables: {
      session: HonoSession<{ n: number; user: string }>;
      session_key_rotation: boolean;
    };
  }>();
  const sessions = sessionMiddleware({
    store: cookie
      ? new HonoCookieStore({ sessionCookieName: "session" })
      : new HonoMemoryStore(),
    encryptionKey,
    cookieOptions: { path: "/", httpOnly: true, sameSite: "Lax" },
  });
  app.get("/bare", (c) => c.text("ok"));
  app.get("/read", sessions, (c) => {
    const n = c.get("session").get("n");
    return n === null || n === undefined
      ? c.text("no session", 409)
      : c.text(`n=${n}`);
  });
  app.get("/write", sessions, (c) => {
    const session = c.get("session");
    const n = ++counter;
    if (session.get("n") === null) created++;
    session.set("n", n);
    if (session.get("user") === null) session.set("user", `user-${n}`);
    return c.text(`n=${n}`);
  });
  return { handler: app.fetch, counts: () => ({}) };
}

/** The secret of memory-secrets (an HMAC key) and of cookie (the sealing key). */
const SECRET = "bench-secret-0123456789abcdef0123456789abcdef";
/** hono-sessions' encryption key: the kind its README recommends (at least 32 characters). */
const HONO_KEY = "password_at_least_32_characters_long_0123";

function required(flags: Record<string, string | undefined>, name: string) {
  const value = flags[name];
  if (value === undefined) throw new Error(`--${name} is required`);
  return value;
}

/** A store variant's options: an `-untimed` one has no store timeout. */
function timing(variant: string): SessionOptions {
  return variant.endsWith("-untimed") ? { storeTimeout: null } : {};
}

/** The handler of a variant; see `variants.ts`. */
async function handlerFor(
  variant: string,
  flags: {
    "max-sessions"?: string;
    "kv-path"?: string;
    "file-dir"?: string;
    "redis-url"?: string;
  },
): Promise<Served> {
  switch (variant) {
    case "bare":
      return { handler: () => new Response("ok"), counts: () => ({}) };
    case "floor":
      return floor();
    case "floor-headers":
      return floor(true);
    case "memory":
    case "memory-secrets": {
      const store = new MemoryStore({
        maxSessions: Number(flags["max-sessions"] ?? 100_000),
      });
      const counting = new CountingStore(store);
      // As a MemoryStore given directly is: its calls are not timed (the
      // counting wrapper hides that it is one).
      const untimed = { storeTimeout: null };
      return ours(
        counting,
        counted(counting, () => store.size),
        variant === "memory-secrets"
          ? { ...untimed, secrets: [SECRET] }
          : untimed,
      );
    }
    case "cookie":
      // The CookieStore seals with its own secrets; withSession takes none.
      return countedCookies(
        ours(new CookieStore({ secrets: [SECRET] }), () => ({})),
      );
    case "kv":
    case "kv-untimed": {
      const kv = await Deno.openKv(required(flags, "kv-path"));
      const store = new CountingStore(
        new KvStore(kv, { prefix: ["sessions"] }),
      );
      return ours(store, counted(store, () => undefined), timing(variant));
    }
    case "file":
    case "file-untimed": {
      const store = new CountingStore(
        new FileStore(required(flags, "file-dir")),
      );
      return ours(store, counted(store, () => undefined), timing(variant));
    }
    case "kv-floor": {
      const kv = await Deno.openKv(required(flags, "kv-path"));
      return storeFloor(
        async (sid) => {
          const entry = await kv.get<Uint8Array>(["sessions", sid]);
          return entry.value === null ? null : decoder.decode(entry.value);
        },
        async (sid, json) => {
          await kv.set(["sessions", sid], encoder.encode(json));
        },
      );
    }
    case "file-floor": {
      const dir = required(flags, "file-dir");
      await Deno.mkdir(dir, { recursive: true });
      return storeFloor(
        (sid) =>
          Deno.readTextFile(`${dir}/${sid}`).catch((error) => {
            if (error instanceof Deno.errors.NotFound) return null;
            throw error;
          }),
        (sid, json) => Deno.writeTextFile(`${dir}/${sid}`, json),
      );
    }
    case "redis":
    case "redis-untimed": {
      const client = await nodeRedisClient(required(flags, "redis-url"));
      const store = new CountingStore(new RedisStore(client));
      return ours(store, counted(store, () => undefined), timing(variant));
    }
    case "redis-floor": {
      const client = await nodeRedisClient(required(flags, "redis-url"));
      return storeFloor(
        (sid) => client.get(`floor:${sid}`),
        async (sid, json) => {
          await client.set(`floor:${sid}`, json);
        },
      );
    }
    case "hono-sessions":
      return await hono();
    case "hono-sessions-key":
      return await hono(HONO_KEY);
    case "hono-sessions-cookie":
      return await hono(HONO_KEY, true);
  }
  throw new Error(
    `unknown variant ${variant}; one of ${variantNames.join(", ")}`,
  );
}

if (import.meta.main) {
  const { values: flags } = parseArgs({
    args: Deno.args,
    options: {
      variant: { type: "string", default: "bare" },
      port: { type: "string", default: "0" },
      "max-sessions": { type: "string" },
      "kv-path": { type: "string" },
      "file-dir": { type: "string" },
      "redis-url": { type: "string" },
      // Marks the process so that a test can find anything left behind.
      tag: { type: "string" },
    },
  });
  const { handler, counts } = await handlerFor(flags.variant, flags);
  const control = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => stats(req.url, counts()),
  );
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: Number(flags.port),
    onListen: ({ port }) => {
      console.log(
        `Listening on http://127.0.0.1:${port}/ control http://127.0.0.1:${control.addr.port}/ pid ${Deno.pid}`,
      );
    },
  }, handler);
  // A graceful stop on SIGTERM, so that `--cpu-prof` writes its profile.
  Deno.addSignalListener("SIGTERM", () => {
    Promise.all([server.shutdown(), control.shutdown()]).then(() =>
      Deno.exit(0)
    );
  });
  await server.finished;
}
