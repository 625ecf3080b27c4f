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
}

/** The measured routes. */
export type Route = "/bare" | "/read" | "/write";

const ALL: readonly Route[] = ["/bare", "/read", "/write"];

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
      "the floor plus the headers our middleware sends (Vary: Cookie; Set-Cookie with Max-Age and Expires)",
    routes: ["/read", "/write"],
  },
  {
    name: "memory",
    description: "@denokit/session, MemoryStore",
    routes: ALL,
  },
  {
    name: "memory-secrets",
    description: "@denokit/session, MemoryStore, signed cookie (secrets)",
    routes: ALL,
  },
  {
    name: "kv",
    description: "@denokit/session, KvStore on a SQLite file",
    routes: ALL,
  },
  {
    name: "file",
    description: "@denokit/session, FileStore in a directory",
    routes: ALL,
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
];

/** The names of {@linkcode variants}. */
export const variantNames: readonly string[] = variants.map((v) => v.name);
