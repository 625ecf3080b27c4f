/**
 * Sessions in Redis, through the client of `npm:redis` or `npm:ioredis` that
 * the application already has: `RedisStore`, for several app servers on one
 * Redis. Nothing of either library is imported.
 *
 * @example
 * ```ts
 * import { withSession } from "@denokit/session";
 * import { RedisStore } from "@denokit/session/redis";
 * import { createClient } from "redis"; // deno add npm:redis
 *
 * const client = createClient({
 *   url: "redis://127.0.0.1:6379",
 *   disableOfflineQueue: true, // fail, rather than wait, while Redis is down
 * });
 * // await client.connect();
 * const store = new RedisStore(client, { prefix: "myapp:session:" });
 * const handler = withSession(() => new Response("ok"), { store });
 * // Deno.serve(handler);
 * ```
 *
 * @module
 */

export {
  type IoRedisClient,
  type NodeRedisClient,
  type NodeRedisScriptOptions,
  type RedisClient,
  RedisStore,
  type RedisStoreOptions,
} from "./src/stores/redis.ts";
