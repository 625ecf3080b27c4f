/**
 * A store on Redis, through a client the application already has: the one
 * from `npm:redis` (node-redis) or from `npm:ioredis`, told apart by their
 * methods, with nothing of either imported. Every write is one Lua script,
 * atomic and conditional on the version read, rotation included; keys expire
 * in Redis at the record's deadline. It also files sessions by user
 * ({@linkcode UserIndex}).
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  checkStoreKey,
  decodeRecord,
  DEFAULT_MAX_SESSION_BYTES,
  encodeRecord,
  MAX_EXPIRY_MS,
  oversize,
  SessionTooLargeError,
  wholeCount,
} from "../record.ts";
import type {
  SessionRecord,
  SessionStore,
  StoredSession,
  UserIndex,
  UserSessionEntry,
  WriteCondition,
} from "../store.ts";
import { withinTimeout } from "../timeout.ts";

/** The keys and arguments of a script, as node-redis takes them. */
export interface NodeRedisScriptOptions {
  /** The script's `KEYS`. */
  keys: string[];
  /** The script's `ARGV`. */
  arguments: string[];
}

/**
 * What {@linkcode RedisStore} uses of a node-redis client (`npm:redis`,
 * `createClient()` or `createCluster()`): `GET`, `EVAL`, `EVALSHA` and, for
 * `waitForReplicas`, `WAIT`.
 */
export interface NodeRedisClient {
  /** `GET key`. */
  get(key: string): Promise<unknown>;
  /** `EVAL script numkeys keys... args...`. */
  eval(script: string, options: NodeRedisScriptOptions): Promise<unknown>;
  /** `EVALSHA sha1 numkeys keys... args...`. */
  evalSha(sha1: string, options: NodeRedisScriptOptions): Promise<unknown>;
  /** `WAIT numreplicas timeout`. */
  wait?(replicas: number, timeout: number): Promise<unknown>;
  /** The client's options: the store checks that commands never wait offline. */
  readonly options?: { readonly disableOfflineQueue?: boolean };
  /** A cluster's masters (`createCluster()`), through which `WAIT` cannot go. */
  readonly masters?: unknown;
}

/**
 * What {@linkcode RedisStore} uses of an ioredis client (`npm:ioredis`,
 * `new Redis()` or `new Cluster()`): `GET`, `EVAL`, `EVALSHA` and, for
 * `waitForReplicas`, `WAIT`.
 */
export interface IoRedisClient {
  /** `GET key`. */
  get(key: string): Promise<unknown>;
  /** `EVAL script numkeys keys... args...`. */
  eval(script: string, numKeys: number, ...keysAndArgs: string[]): Promise<
    unknown
  >;
  /** `EVALSHA sha1 numkeys keys... args...`. */
  evalsha(
    sha1: string,
    numKeys: number,
    ...keysAndArgs: string[]
  ): Promise<unknown>;
  /** `WAIT numreplicas timeout`. */
  wait?(replicas: number, timeout: number): Promise<unknown>;
  /** The client's options: the store checks that commands never wait offline. */
  readonly options?: {
    readonly enableOfflineQueue?: boolean;
    readonly maxRetriesPerRequest?: number | null;
    /** A `Cluster`'s options for its connections to each node. */
    readonly redisOptions?: { readonly maxRetriesPerRequest?: number | null };
  };
  /** Whether it is a `Cluster`. */
  readonly isCluster?: boolean;
}

/** A connected Redis client of `npm:redis` or `npm:ioredis`. */
export type RedisClient = NodeRedisClient | IoRedisClient;

/** Options for {@linkcode RedisStore}. */
export interface RedisStoreOptions {
  /**
   * Prepended to every key the store writes: a session lives at
   * `prefix + storeKey` (the 64-hex SHA-256 digest of its id), the sessions of
   * a user at `prefix + "user:" + user`. Default `"session:"`. On Redis
   * Cluster, give it a hash tag (`"{session}:"`) so that every key is in one
   * slot: rotation and the user index write several keys in one script.
   */
  prefix?: string;
  /**
   * After every write, wait until this many replicas have acknowledged it
   * (`WAIT`), for at most `timeout` seconds; a write they did not all
   * acknowledge in time rejects. Default: none (Redis replicates
   * asynchronously; see the README on failover). Needs a client on one
   * connection to the primary (node-redis `createClient`, ioredis `new Redis`,
   * also through Sentinel), not a cluster or a pool: `WAIT` counts the writes
   * of its own connection.
   */
  waitForReplicas?: { replicas: number; timeout: number };
  /**
   * Seconds a call waits for Redis to answer before it rejects: the bound on
   * a request when Redis hangs rather than drops the connection (a frozen
   * process, a lost network), which neither client bounds by default
   * (node-redis has no reply timeout at all). Default 5; a call rejects
   * within a quarter of it after it is due. A write that timed
   * out may still be applied once Redis answers again: it stays conditional
   * on the version it read.
   */
  timeout?: number;
  /**
   * The most bytes a session may take in Redis; a write past it rejects with
   * a `SessionTooLargeError` and writes nothing. Default 65,536, Deno KV's
   * limit, so that an app moves between stores unchanged.
   */
  maxSessionBytes?: number;
}

/** Random bytes in a version. */
const VERSION_BYTES = 16;
/** A version's length in hex, at the start of every stored value. */
const VERSION_LENGTH = VERSION_BYTES * 2;
/** The length of a store key: a SHA-256 hex digest. */
const KEY_LENGTH = 64;

/**
 * The stored value of a record, and what the scripts find in it without
 * parsing JSON: `version` (32 hex), the record's JSON, then `"\n" + user`
 * when it has one (JSON.stringify never writes a raw newline).
 */
function encodeValue(version: string, record: SessionRecord): string {
  const json = encodeRecord(record);
  return record.user === undefined
    ? version + json
    : `${version}${json}\n${record.user}`;
}

function decodeValue(value: unknown): StoredSession | null {
  if (typeof value !== "string" || value.length <= VERSION_LENGTH) return null;
  const newline = value.indexOf("\n", VERSION_LENGTH);
  const record = decodeRecord(
    value.slice(VERSION_LENGTH, newline === -1 ? undefined : newline),
  );
  return record === null
    ? null
    : { record, version: value.slice(0, VERSION_LENGTH) };
}

/** Shared by the scripts: how a value names its user, and where users are filed. */
const PRELUDE = `
local function userOf(value)
  local newline = string.find(value, '\\n', ${VERSION_LENGTH + 1}, true)
  if newline then return string.sub(value, newline + 1) end
  return nil
end
-- The prefix as the client sent it (with its own key prefix, if any).
local base = string.sub(KEYS[1], 1, -${KEY_LENGTH + 1})
local function index(user) return base .. 'user:' .. user end
-- A user's set holds store keys, without the prefix.
local function unfile(user, key)
  redis.call('ZREM', index(user), string.sub(key, -${KEY_LENGTH}))
end
-- Writes value under key and files key under its user, unfiling it from
-- previous (the user of the record it replaces) if that is another. The
-- user's set stays bounded: entries go at their records' deadlines, and so
-- does the set.
local function put(key, value, expireAt, previous, now)
  local user = userOf(value)
  if previous and previous ~= user then unfile(previous, key) end
  if expireAt == '' then
    redis.call('SET', key, value)
  else
    redis.call('SET', key, value, 'PXAT', expireAt)
  end
  if user then
    local filing = index(user)
    redis.call('ZADD', filing, expireAt == '' and '+inf' or expireAt,
      string.sub(key, -${KEY_LENGTH}))
    redis.call('ZREMRANGEBYSCORE', filing, '-inf', '(' .. now)
    local last = redis.call('ZRANGE', filing, -1, -1, 'WITHSCORES')
    if last[2] == 'inf' then
      redis.call('PERSIST', filing)
    elseif last[2] then
      redis.call('PEXPIREAT', filing, last[2])
    end
  end
end
`;

/**
 * KEYS[1]: the key written; KEYS[2]: the key whose version is checked (the
 * same unless rotating). ARGV: the expected version ('' for none), the value,
 * its expiry ('' for none), the forwarding value ('' for none) and its
 * expiry, the clock. Every read comes before the first write, so that a
 * refused key (another slot on a cluster) fails the script having written
 * nothing.
 */
const SET_SCRIPT = `${PRELUDE}
local target, source = KEYS[1], KEYS[2]
local current = redis.call('GET', source)
if ARGV[1] == '' then
  if current then return false end
elseif not current or string.sub(current, 1, ${VERSION_LENGTH}) ~= ARGV[1] then
  return false
end
if source ~= target and redis.call('EXISTS', target) == 1 then return false end
local previous = current and userOf(current)
local user = userOf(ARGV[2])
if previous then redis.call('EXISTS', index(previous)) end
if user then redis.call('EXISTS', index(user)) end
if source == target then
  put(target, ARGV[2], ARGV[3], previous, ARGV[6])
  return true
end
put(target, ARGV[2], ARGV[3], nil, ARGV[6])
if ARGV[4] == '' then
  if previous then unfile(previous, source) end
  redis.call('DEL', source)
else
  put(source, ARGV[4], ARGV[5], previous, ARGV[6])
end
return true
`;

/** KEYS[1]: the key deleted, and unfiled from its user. */
const DELETE_SCRIPT = `${PRELUDE}
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local previous = userOf(current)
if previous then
  redis.call('EXISTS', index(previous))
  unfile(previous, KEYS[1])
end
return redis.call('DEL', KEYS[1])
`;

/**
 * KEYS[1]: a user's set; ARGV: the user, the clock. The keys filed whose
 * deadline has not passed, each with its value.
 */
const LIST_SCRIPT = `
local base = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[1] - 5)
local keys = redis.call('ZRANGE', KEYS[1], ARGV[2], '+inf', 'BYSCORE')
local found = {}
for _, key in ipairs(keys) do
  local value = redis.call('GET', base .. key)
  if value then
    found[#found + 1] = key
    found[#found + 1] = value
  end
end
return found
`;

/** A Lua script and its SHA-1 digest, for `EVALSHA`. */
interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash("sha1").update(source).digest("hex") };
}

const SET = script(SET_SCRIPT);
const DELETE = script(DELETE_SCRIPT);
const LIST = script(LIST_SCRIPT);

const versionBytes = new Uint8Array(VERSION_BYTES);

function newVersion(): string {
  return crypto.getRandomValues(versionBytes).toHex();
}

/** The `PXAT` argument of a record: its deadline in whole ms, or '' for none. */
function expireAt(record: SessionRecord, now: number): string {
  if (!(record.expiresAt - now <= MAX_EXPIRY_MS)) return "";
  return String(Math.max(1, Math.ceil(record.expiresAt)));
}

/** The commands the store sends, the same for both clients. */
interface Commands {
  get(key: string): Promise<unknown>;
  eval(script: string, keys: string[], args: string[]): Promise<unknown>;
  evalSha(sha: string, keys: string[], args: string[]): Promise<unknown>;
  /**
   * `WAIT` on the connection that wrote, or null: a cluster client sends a
   * keyless command to any node, where `WAIT` counts no write of ours and
   * returns at once.
   */
  wait: ((replicas: number, timeout: number) => Promise<unknown>) | null;
}

function isNodeRedis(client: RedisClient): client is NodeRedisClient {
  return typeof (client as NodeRedisClient).evalSha === "function";
}

function isIoRedis(client: RedisClient): client is IoRedisClient {
  return typeof (client as IoRedisClient).evalsha === "function";
}

/**
 * The client's commands, after checking that a command sent while Redis is
 * unreachable fails at once instead of waiting in the client's queue, and
 * that a command in flight when the connection drops is not sent again
 * after it comes back (it may have run: a write run twice reads as a
 * conflict with itself).
 */
function commandsOf(client: RedisClient): Commands {
  if (typeof client !== "object" || client === null) {
    throw new TypeError(
      "RedisStore: the first argument must be a connected client of npm:redis or npm:ioredis",
    );
  }
  if (isNodeRedis(client)) {
    if (client.options !== undefined && !client.options.disableOfflineQueue) {
      throw new TypeError(
        "RedisStore: create the npm:redis client with `disableOfflineQueue: true`: otherwise a request waits for as long as Redis is unreachable, instead of failing",
      );
    }
    return {
      get: (key) => client.get(key),
      eval: (script, keys, args) =>
        client.eval(script, { keys, arguments: args }),
      evalSha: (sha, keys, args) =>
        client.evalSha(sha, { keys, arguments: args }),
      wait: "masters" in client ? null : client.wait?.bind(client) ?? null,
    };
  }
  if (isIoRedis(client)) {
    const options = client.options;
    // A Cluster takes the retries for its node connections in redisOptions.
    const retries = client.isCluster
      ? options?.redisOptions?.maxRetriesPerRequest
      : options?.maxRetriesPerRequest;
    if (
      options !== undefined &&
      (options.enableOfflineQueue !== false || retries !== 0)
    ) {
      throw new TypeError(
        `RedisStore: create the npm:ioredis client with \`enableOfflineQueue: false\` and \`${
          client.isCluster
            ? "redisOptions: { maxRetriesPerRequest: 0 }"
            : "maxRetriesPerRequest: 0"
        }\`: otherwise a request waits while Redis is unreachable, and a write in flight when the connection drops is sent again`,
      );
    }
    return {
      get: (key) => client.get(key),
      eval: (script, keys, args) =>
        client.eval(script, keys.length, ...keys, ...args),
      evalSha: (sha, keys, args) =>
        client.evalsha(sha, keys.length, ...keys, ...args),
      wait: client.isCluster ? null : client.wait?.bind(client) ?? null,
    };
  }
  throw new TypeError(
    "RedisStore: the client has neither evalSha (npm:redis) nor evalsha (npm:ioredis)",
  );
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith("NOSCRIPT");
}

/**
 * Sessions in Redis, for several app servers on one Redis (with replicas,
 * under Sentinel, or on a cluster with a hash-tagged prefix). The caller
 * creates, connects and closes the client; the store never does.
 *
 * - A session lives at `prefix + storeKey`, `storeKey` being the SHA-256 hex
 *   digest of its id: the id itself never reaches Redis. The value is a
 *   random version (32 hex), the record's JSON, and its user.
 * - `get` is one `GET`. `set` and `delete` are each one Lua script (`EVALSHA`,
 *   loaded with `EVAL` when Redis answers `NOSCRIPT`), atomic and conditional
 *   on the version read: a rotation checks the old key, writes the new one
 *   and leaves the forwarding record in one step.
 * - Every record is written with `PXAT` at its `expiresAt`, so that Redis
 *   drops it at its deadline; whether a session is live is still decided from
 *   the record's timestamps. A deadline more than 100 years away is written
 *   without one.
 * - It files each session under its `user` in a sorted set per user
 *   (`prefix + "user:" + user`, scored by deadline), in the same script as the
 *   record: {@linkcode RedisStore.listUser} costs one script and grows with
 *   that user's sessions only.
 * - Every failure rejects: a lost connection, an error from Redis, a
 *   `waitForReplicas` not met, no answer within `timeout`. The constructor
 *   refuses a client that would hold commands while Redis is unreachable
 *   (node-redis without `disableOfflineQueue: true`; ioredis without
 *   `enableOfflineQueue: false` and `maxRetriesPerRequest: 0`), so that a
 *   request fails instead of waiting out an outage; once the client has
 *   reconnected, requests work again.
 * - Keys must be store keys, 64 lowercase hex digits: the scripts find the
 *   prefix by their length. Any other key is a TypeError.
 *
 * @example With npm:redis (node-redis)
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
 * @example With npm:ioredis
 * ```ts
 * import { withSession } from "@denokit/session";
 * import { RedisStore } from "@denokit/session/redis";
 * import { Redis } from "ioredis"; // deno add npm:ioredis
 *
 * const client = new Redis({
 *   host: "127.0.0.1",
 *   port: 6379,
 *   lazyConnect: true,
 *   enableOfflineQueue: false, // fail, rather than wait, while Redis is down
 *   maxRetriesPerRequest: 0, // and never send a write twice
 * });
 * // await client.connect();
 * const store = new RedisStore(client, { timeout: 2 });
 * const handler = withSession(() => new Response("ok"), { store });
 * // Deno.serve(handler);
 * ```
 */
export class RedisStore implements SessionStore, UserIndex {
  readonly #commands: Commands;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #replication: Replication | null;
  readonly #maxSessionBytes: number;

  /**
   * Wraps a connected client. Throws a TypeError for a client of neither
   * library, one that would queue commands while disconnected (see above),
   * or invalid options.
   */
  constructor(client: RedisClient, options: RedisStoreOptions = {}) {
    this.#commands = commandsOf(client);
    const {
      prefix = "session:",
      timeout = 5,
      waitForReplicas,
      maxSessionBytes = DEFAULT_MAX_SESSION_BYTES,
    } = options;
    this.#maxSessionBytes = wholeCount(
      "RedisStore",
      "maxSessionBytes",
      maxSessionBytes,
    );
    if (typeof prefix !== "string") {
      throw new TypeError(
        `RedisStore: prefix must be a string, got ${typeof prefix}`,
      );
    }
    this.#prefix = prefix;
    this.#timeoutMs = milliseconds("timeout", timeout);
    this.#replication = waitForReplicas === undefined
      ? null
      : replication(waitForReplicas, this.#commands.wait);
  }

  /** Reads a record with one `GET`; see {@linkcode SessionStore.get}. */
  async get(key: string): Promise<StoredSession | null> {
    return decodeValue(
      await this.#answer(this.#commands.get(this.#key(key))),
    );
  }

  /**
   * Writes a record in one conditional script; see
   * {@linkcode SessionStore.set}. With `waitForReplicas`, resolves once the
   * replicas have acknowledged it, and rejects if they have not in time.
   * Rejects with a `SessionTooLargeError`, writing nothing, when the value
   * would be over `maxSessionBytes`.
   */
  async set(
    key: string,
    record: SessionRecord,
    condition: WriteCondition,
  ): Promise<string | null> {
    const now = Date.now();
    const version = newVersion();
    const { replaces, forward } = condition;
    const target = this.#key(key);
    const value = encodeValue(version, record);
    const size = oversize(value, this.#maxSessionBytes);
    if (size !== null) {
      throw new SessionTooLargeError(
        "RedisStore",
        record,
        size,
        this.#maxSessionBytes,
      );
    }
    const written = await this.#run(
      SET,
      [target, replaces === undefined ? target : this.#key(replaces)],
      [
        condition.version ?? "",
        value,
        expireAt(record, now),
        forward === undefined ? "" : encodeValue(newVersion(), forward),
        forward === undefined ? "" : expireAt(forward, now),
        String(now),
      ],
    );
    if (written === null) return null;
    await this.#replicated();
    return version;
  }

  /** Deletes a record and unfiles it, in one script. */
  async delete(key: string): Promise<void> {
    await this.#run(DELETE, [this.#key(key)], []);
    await this.#replicated();
  }

  /**
   * The sessions filed under `user` whose deadline has not passed, in one
   * script; see {@linkcode UserIndex.listUser}.
   */
  async listUser(user: string): Promise<UserSessionEntry[]> {
    const found = await this.#run(
      LIST,
      [`${this.#prefix}user:${user}`],
      [user, String(Date.now())],
    );
    if (!Array.isArray(found)) throw unexpected(found);
    const entries: UserSessionEntry[] = [];
    for (let i = 0; i + 1 < found.length; i += 2) {
      const stored = decodeValue(found[i + 1]);
      // Only this store's scripts file keys; a record that is not one, or
      // not this user's, is left out rather than shown to another user.
      if (stored !== null && stored.record.user === user) {
        entries.push({ key: String(found[i]), stored });
      }
    }
    return entries;
  }

  /** The Redis key of a store key; a TypeError for anything else. */
  #key(key: string): string {
    return this.#prefix + checkStoreKey("RedisStore", key);
  }

  /** Runs a script by its digest, loading it on `NOSCRIPT` (a new or restarted server). */
  async #run(
    script: Script,
    keys: string[],
    args: string[],
  ): Promise<unknown> {
    try {
      return await this.#answer(
        this.#commands.evalSha(script.sha, keys, args),
      );
    } catch (error) {
      if (!isNoScript(error)) throw error;
      return await this.#answer(this.#commands.eval(script.source, keys, args));
    }
  }

  /** The reply, or a rejection once `timeout` (plus `extraMs`) has passed. */
  #answer<T>(reply: Promise<T>, extraMs = 0): Promise<T> {
    const ms = this.#timeoutMs + extraMs;
    return withinTimeout(
      reply,
      ms,
      () =>
        new Error(`RedisStore: no answer from Redis within ${ms} ms (timeout)`),
    );
  }

  /** With `waitForReplicas`: `WAIT`, and a rejection if too few acknowledged. */
  async #replicated(): Promise<void> {
    const replication = this.#replication;
    if (replication === null) return;
    const { replicas, timeoutMs } = replication;
    const acknowledged = await this.#answer(
      replication.wait(replicas, timeoutMs),
      timeoutMs,
    );
    if (typeof acknowledged !== "number") throw unexpected(acknowledged);
    if (acknowledged < replicas) {
      throw new Error(
        `RedisStore: ${acknowledged} of the ${replicas} replicas required acknowledged the write within ${timeoutMs} ms (waitForReplicas); it is on the primary, and may be lost if the primary fails before it replicates`,
      );
    }
  }
}

/** What `waitForReplicas` asks for, checked. */
interface Replication {
  readonly replicas: number;
  readonly timeoutMs: number;
  readonly wait: (replicas: number, timeout: number) => Promise<unknown>;
}

function replication(
  options: { replicas: number; timeout: number },
  wait: Commands["wait"],
): Replication {
  const { timeout } = options;
  const replicas = wholeCount(
    "RedisStore",
    "waitForReplicas.replicas",
    options.replicas,
  );
  // WAIT's 0 means forever: a timeout must be one.
  const timeoutMs = milliseconds("waitForReplicas.timeout", timeout);
  if (wait === null) {
    throw new TypeError(
      "RedisStore: waitForReplicas needs a client on one connection to the primary, with wait() (WAIT): not a cluster client",
    );
  }
  return { replicas, timeoutMs, wait };
}

/** Seconds as whole milliseconds, at least 1; a TypeError unless > 0 and at most an hour. */
function milliseconds(name: string, seconds: number): number {
  if (!(typeof seconds === "number" && seconds > 0 && seconds <= 3_600)) {
    throw new TypeError(
      `RedisStore: ${name} must be a number of seconds > 0 and <= 3600, got ${seconds}`,
    );
  }
  return Math.max(1, Math.round(seconds * 1000));
}

function unexpected(reply: unknown): Error {
  return new Error(`RedisStore: unexpected reply from Redis: ${typeof reply}`);
}
