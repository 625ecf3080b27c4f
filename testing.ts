/**
 * Helpers for tests: the store conformance suite, for anyone writing a
 * `SessionStore` (run it from a `Deno.test` and every guarantee the
 * middleware relies on is checked as a test step), and
 * {@linkcode callHandler}, to call a wrapped handler without a server.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "@denokit/session";
 * import { testSessionStore } from "@denokit/session/testing";
 *
 * Deno.test("MemoryStore conforms", async (t) => {
 *   await testSessionStore(t, {
 *     create: () => new MemoryStore(),
 *     dispose: (store) => store.close(),
 *   });
 * });
 * ```
 *
 * @module
 */

export { type StoreFactory, testSessionStore } from "./src/conformance.ts";
export { callHandler } from "./src/call_handler.ts";
