/**
 * The test app every store is tested through, a client that keeps its
 * cookie, and the stores themselves as fixtures: one list, so that each
 * guarantee is checked on memory, Deno KV, files and Redis alike.
 */

import {
  FileStore,
  getSession,
  KvStore,
  MemoryStore,
  type SessionStore,
} from "../mod.ts";
import { RedisStore } from "../redis.ts";
import { storeKey } from "../src/id.ts";
import { callHandler } from "../testing.ts";
import { applyRoute, CountingStore, gate } from "./helpers.ts";
import { nodeRedisClient, startRedis } from "./redis_helpers.ts";

/** Where a request of {@linkcode testApp} holds still when armed: after its changes, before its save. */
export class Pause {
  #armed: { reached: () => void; resume: Promise<void> } | null = null;

  /** Holds the next request that reaches the pause; `reached` resolves once one has. */
  arm(): { reached: Promise<void>; resume: () => void } {
    const reached = gate();
    const resume = gate();
    this.#armed = { reached: reached.open, resume: resume.promise };
    return { reached: reached.promise, resume: resume.open };
  }

  /** Called by a request: holds it if armed. */
  async point(): Promise<void> {
    const armed = this.#armed;
    if (armed === null) return;
    this.#armed = null;
    armed.reached();
    await armed.resume;
  }
}

/** What a test handler reports about the session it saw. */
export interface Seen {
  data: Record<string, unknown>;
  isNew: boolean;
  wasExpired: boolean;
}

/**
 * A handler for the tests, to wrap in withSession:
 * - `/set?k=v&...` sets each pair, `/delete?k` deletes k, `/clear`, `/flush`;
 * - `/rotate?k=v` rotates the id, then sets;
 * - `/expiry?at=ms` setExpiry(new Date(ms));
 * - `&gate` holds the request at `pause` after its changes, `&gate=before`
 *   before them;
 * - every route answers the data it saw as JSON ({@linkcode Seen}).
 */
export function testApp(pause = new Pause()) {
  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const session = await getSession(req);
    const seen: Seen = {
      data: Object.fromEntries(session.entries()),
      isNew: session.isNew,
      wasExpired: session.wasExpired,
    };
    const params = [...url.searchParams].filter(([key]) => key !== "gate");
    const gate = url.searchParams.get("gate");
    if (gate === "before") await pause.point();
    await applyRoute(session, url.pathname, params);
    if (gate !== null && gate !== "before") await pause.point();
    return Response.json(seen);
  };
}

/** A browser of one: keeps the session cookie between requests. */
export class Client {
  cookie: string | null = null;

  constructor(readonly handler: Deno.ServeHandler) {}

  /** A client of `handler` that starts with this one's cookie (another tab). */
  tab(handler = this.handler): Client {
    const tab = new Client(handler);
    tab.cookie = this.cookie;
    return tab;
  }

  /** The session id in the cookie (the cookies are not signed here). */
  get id(): string {
    if (this.cookie === null) throw new Error("no session cookie yet");
    return this.cookie.slice(this.cookie.indexOf("=") + 1);
  }

  /** The store key of the session in the cookie. */
  get key(): string {
    return storeKey(this.id);
  }

  /** A request of {@linkcode testApp}: what it saw. */
  get(path: string): Promise<Seen & { setCookie: string | null }> {
    return this.json<Seen>(path);
  }

  /** A request whose answer is JSON of type T, and the Set-Cookie sent. */
  async json<T>(path: string): Promise<T & { setCookie: string | null }> {
    const headers = new Headers();
    if (this.cookie !== null) headers.set("cookie", this.cookie);
    const response = await callHandler(
      this.handler,
      `http://127.0.0.1${path}`,
      { headers },
    );
    const setCookie = response.headers.get("set-cookie");
    if (setCookie !== null) {
      const pair = setCookie.slice(0, setCookie.indexOf(";"));
      this.cookie = pair.endsWith("=") ? null : pair;
    }
    return { ...await response.json() as T, setCookie };
  }
}

/** A store opened for a test, and how to see its records from another process. */
export interface OpenStore {
  store: SessionStore;
  /**
   * Another store object over the same records, as another process would
   * open them: its writes do not queue behind the first one's (the core
   * queues writes per store object), so they race in the backend.
   */
  twin(): SessionStore;
  close(): Promise<void>;
}

/** Steps of `t`, each on a store of its own from `open`, closed after it. */
export function stepsOn(
  t: Deno.TestContext,
  open: () => Promise<OpenStore>,
): (
  title: string,
  fn: (opened: OpenStore) => Promise<void>,
) => Promise<boolean> {
  return (title, fn) =>
    t.step(title, async () => {
      const opened = await open();
      try {
        await fn(opened);
      } finally {
        await opened.close();
      }
    });
}

/** Every store of the module, opened fresh and empty. */
export const STORES: ReadonlyArray<
  { name: string; open(): Promise<OpenStore> }
> = [
  {
    name: "MemoryStore",
    open() {
      const store = new MemoryStore({ sweepInterval: 0 });
      return Promise.resolve({
        store,
        twin: () => new CountingStore(store),
        close: () => Promise.resolve(store.close()),
      });
    },
  },
  {
    name: "KvStore",
    async open() {
      const dir = await Deno.makeTempDir({ prefix: "app_kv_" });
      const kv = await Deno.openKv(`${dir}/sessions.kv`);
      return {
        store: new KvStore(kv),
        twin: () => new KvStore(kv),
        close: async () => {
          kv.close();
          await Deno.remove(dir, { recursive: true });
        },
      };
    },
  },
  {
    name: "FileStore",
    async open() {
      const dir = await Deno.makeTempDir({ prefix: "app_file_" });
      const store = new FileStore(dir);
      const twins: FileStore[] = [];
      return {
        store,
        twin: () => {
          const twin = new FileStore(dir);
          twins.push(twin);
          return twin;
        },
        close: async () => {
          for (const twin of [store, ...twins]) await twin.close();
          await Deno.remove(dir, { recursive: true });
        },
      };
    },
  },
  {
    name: "RedisStore",
    async open() {
      const server = await startRedis();
      // Another process would have a connection of its own.
      const [client, other] = await Promise.all([
        nodeRedisClient(server.url),
        nodeRedisClient(server.url),
      ]);
      return {
        store: new RedisStore(client),
        twin: () => new RedisStore(other),
        close: async () => {
          client.destroy();
          other.destroy();
          await server.close();
        },
      };
    },
  },
];
