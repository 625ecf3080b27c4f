// Helpers for the KvStore tests: a Deno.Kv that records what is committed,
// and a client that drives a withSession handler without a network.

import { getSession } from "../mod.ts";
import type { SessionRecord } from "../mod.ts";
import { storeKey } from "../src/id.ts";

/** One `kv.atomic()` as the store built and committed it. */
export interface CommitLog {
  /** true or false as KV answered; "locked" when the spy threw instead. */
  result: boolean | "locked" | "pending";
  checks: Deno.AtomicCheck[];
  sets: Array<{
    key: Deno.KvKey;
    expireIn: number | undefined;
    record: SessionRecord;
    /** Date.now() when the store called set(). */
    at: number;
  }>;
  deletes: Deno.KvKey[];
}

/**
 * Wraps a real Deno.Kv: every atomic operation is logged, and the next
 * `lockedCommits` commits throw `TypeError: database is locked` (as SQLite
 * does under contention) without reaching KV.
 */
export class SpyKv {
  readonly commits: CommitLog[] = [];
  /** Calls of kv.get and kv.delete, each. */
  gets = 0;
  deletes = 0;
  lockedCommits = 0;
  readonly kv: Deno.Kv;

  constructor(readonly real: Deno.Kv) {
    this.kv = new Proxy(real, {
      get: (target, property) => {
        if (property === "atomic") return () => this.#atomic();
        if (property === "get") this.gets++;
        if (property === "delete") this.deletes++;
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }

  /** The commits KV accepted. */
  get written(): CommitLog[] {
    return this.commits.filter((commit) => commit.result === true);
  }

  #atomic(): Deno.AtomicOperation {
    const operation = this.real.atomic();
    const log: CommitLog = {
      result: "pending",
      checks: [],
      sets: [],
      deletes: [],
    };
    const decoder = new TextDecoder();
    const wrapper = {
      check: (...checks: Deno.AtomicCheck[]) => {
        log.checks.push(...checks);
        operation.check(...checks);
        return wrapper;
      },
      set: (
        key: Deno.KvKey,
        value: unknown,
        options?: { expireIn?: number },
      ) => {
        log.sets.push({
          key,
          expireIn: options?.expireIn,
          record: JSON.parse(decoder.decode(value as Uint8Array)),
          at: Date.now(),
        });
        operation.set(key, value, options);
        return wrapper;
      },
      delete: (key: Deno.KvKey) => {
        log.deletes.push(key);
        operation.delete(key);
        return wrapper;
      },
      commit: async () => {
        this.commits.push(log);
        if (this.lockedCommits > 0) {
          this.lockedCommits--;
          log.result = "locked";
          throw new TypeError("database is locked");
        }
        const result = await operation.commit();
        log.result = result.ok;
        return result;
      },
    };
    return wrapper as unknown as Deno.AtomicOperation;
  }
}

const info = {
  remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
  completed: Promise.resolve(),
} as unknown as Deno.ServeHandlerInfo;

/** What a test handler reports about the session it saw. */
export interface Seen {
  data: Record<string, unknown>;
  isNew: boolean;
  wasExpired: boolean;
}

/**
 * A handler for the tests, to wrap in withSession:
 * - `/set?k=v&...` sets each pair, `/delete?k` deletes k;
 * - `/rotate?k=v` rotates the id, then sets;
 * - `/expiry?at=ms` setExpiry(new Date(ms));
 * - `&gate=name` waits for `gates.get(name)` after the changes;
 * - every route answers the data it saw as JSON ({@linkcode Seen}).
 */
export function testApp(gates = new Map<string, Promise<void>>()) {
  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const session = await getSession(req);
    const seen: Seen = {
      data: Object.fromEntries(session.entries()),
      isNew: session.isNew,
      wasExpired: session.wasExpired,
    };
    const params = [...url.searchParams].filter(([key]) => key !== "gate");
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
      case "/expiry":
        session.setExpiry(new Date(Number(url.searchParams.get("at"))));
        break;
    }
    const gate = url.searchParams.get("gate");
    if (gate !== null) await gates.get(gate);
    return Response.json(seen);
  };
}

/** A browser of one: keeps the session cookie between requests. */
export class Client {
  cookie: string | null = null;

  constructor(readonly handler: Deno.ServeHandler) {}

  /** The session id in the cookie (the cookies are not signed here). */
  get id(): string {
    if (this.cookie === null) throw new Error("no session cookie yet");
    return this.cookie.slice(this.cookie.indexOf("=") + 1);
  }

  /** The store key of the session in the cookie. */
  get key(): string {
    return storeKey(this.id);
  }

  async get(path: string): Promise<Seen & { setCookie: string | null }> {
    const headers = new Headers();
    if (this.cookie !== null) headers.set("cookie", this.cookie);
    const response = await this.handler(
      new Request(`http://127.0.0.1${path}`, { headers }),
      info,
    );
    const setCookie = response.headers.get("set-cookie");
    if (setCookie !== null) {
      const pair = setCookie.slice(0, setCookie.indexOf(";"));
      this.cookie = pair.endsWith("=") ? null : pair;
    }
    const seen = await response.json() as Seen;
    return { ...seen, setCookie };
  }
}

/** A promise and the function that settles it. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** A record as the middleware writes them, live for an hour. */
export function makeRecord(
  data: SessionRecord["data"],
  expiresAt = Date.now() + 3_600_000,
): SessionRecord {
  const now = Date.now();
  return {
    data,
    createdAt: now,
    lastActiveAt: now,
    absoluteExpiresAt: expiresAt,
    expiresAt,
    browserSession: false,
  };
}

/** A fresh file-backed KV in a temporary directory; `dispose` removes it. */
export async function tempKv(): Promise<
  { kv: Deno.Kv; path: string; dispose: () => Promise<void> }
> {
  const dir = await Deno.makeTempDir({ prefix: "kvstore-test-" });
  const path = `${dir}/sessions.kv`;
  const kv = await Deno.openKv(path);
  let closed = false;
  return {
    kv,
    path,
    dispose: async () => {
      if (!closed) {
        closed = true;
        try {
          kv.close();
        } catch { /* closed by the test already */ }
      }
      await Deno.remove(dir, { recursive: true });
    },
  };
}
