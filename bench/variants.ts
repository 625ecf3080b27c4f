/**
 * The servers the HTTP harness measures, in one list shared by the harness,
 * the server program and the smoke test.
 *
 * @module
 */

/** A benchmark server and what it is. */
export interface Variant {
  name: string;
  description: string;
  /** The routes measured; bare Deno.serve answers every path the same. */
  routes: readonly Route[];
  /**
   * The session travels in the cookie: the harness makes the pool's cookies
   * afresh before every /read run, as a browser that kept each reply's cookie
   * would hold them. A pool cookie sent unchanged for longer than the
   * touchInterval would have every /read re-seal it (its idle deadline is in
   * the cookie, and wrk never keeps the new one).
   */
  freshPool?: boolean;
}

/**
 * The measured routes. `/write-one` is `/write` with every connection on one
 * session's cookie: parallel writes to one session, which must never fail.
 */
export type Route = "/bare" | "/read" | "/write" | "/write-one";

const ALL: readonly Route[] = ["/bare", "/read", "/write"];
const OURS: readonly Route[] = [...ALL, "/write-one"];

/** Every variant, the denominator first. */
export const variants: readonly Variant[] = [
  { name: "bare", description: "bare Deno.serve", routes: ["/bare"] },
  {
    name: "floor",
    description: "plain Map: cookie parse, Map, JSON, unsigned id",
    routes: ALL,
  },
  {
    name: "floor-headers",
    description:
      "the floor plus the headers our middleware sends (Vary: Cookie; Set-Cookie with Max-Age and Expires, and Cache-Control: private)",
    routes: ["/read", "/write"],
  },
  {
    name: "memory",
    description: "@denokit/session, MemoryStore",
    routes: OURS,
  },
  {
    name: "memory-secrets",
    description: "@denokit/session, MemoryStore, signed cookie (secrets)",
    routes: OURS,
  },
  {
    // Its /bare is memory's: the middleware opens the cookie only when the
    // handler asks for the session.
    name: "cookie",
    description:
      "@denokit/session, CookieStore: the session sealed in the cookie (AES-256-GCM)",
    routes: ["/read", "/write"],
    freshPool: true,
  },
  {
    name: "kv-floor",
    description:
      "the floor of a KV store: cookie parse, one kv.get of a JSON session, Vary",
    routes: ["/read"],
  },
  {
    name: "kv",
    description: "@denokit/session, KvStore on a SQLite file",
    routes: OURS,
  },
  {
    name: "kv-untimed",
    description:
      "@denokit/session, KvStore with storeTimeout: null (what the store timeout costs)",
    // Every route, so that its store has the same history as the timed one's.
    routes: OURS,
  },
  {
    name: "file-floor",
    description:
      "the floor of a file store: cookie parse, one file read of a JSON session, Vary",
    routes: ["/read"],
  },
  {
    name: "file",
    description: "@denokit/session, FileStore in a directory",
    routes: OURS,
  },
  {
    name: "file-untimed",
    description:
      "@denokit/session, FileStore with storeTimeout: null (what the store timeout costs)",
    // Every route, so that its store has the same history as the timed one's.
    routes: OURS,
  },
  {
    name: "redis-floor",
    description:
      "the floor of a Redis store: cookie parse, one GET of a JSON session (npm:redis), Vary",
    routes: ["/read"],
  },
  {
    name: "redis",
    description:
      "@denokit/session, RedisStore over npm:redis on a local redis-server",
    routes: OURS,
  },
  {
    name: "redis-untimed",
    description:
      "@denokit/session, RedisStore with storeTimeout: null (what the store timeout costs)",
    // Every route, so that its store has the same history as the timed one's.
    routes: OURS,
  },
  {
    name: "hono-sessions",
    description: "Hono + hono-sessions, its MemoryStore, no encryption key",
    routes: ALL,
  },
  {
    name: "hono-sessions-key",
    description: "Hono + hono-sessions, its MemoryStore, encryptionKey",
    routes: ALL,
  },
  {
    // Its /bare is hono-sessions' /bare: the middleware is only on /read
    // and /write.
    name: "hono-sessions-cookie",
    description:
      "Hono + hono-sessions, its CookieStore (the session sealed in the cookie; encryptionKey required)",
    routes: ["/read", "/write"],
    freshPool: true,
  },
];

/** The names of {@linkcode variants}. */
export const variantNames: readonly string[] = variants.map((v) => v.name);
