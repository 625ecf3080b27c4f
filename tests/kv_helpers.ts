// Helpers for the KvStore tests: a Deno.Kv that records what is committed,
// records, and a temporary KV file.

import type { SessionRecord } from "../mod.ts";

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
