/** Shared test helpers: a cookie-keeping client, stores that count and fail on demand, the routes of the test apps, and records. */

import assert from "node:assert/strict";
import {
  MemoryStore,
  type Session,
  type SessionRecord,
  type SessionStore,
  type StoredSession,
  type UserIndex,
  type WriteCondition,
} from "../mod.ts";
import { callHandler } from "../testing.ts";
import { isUserIndex } from "../src/store.ts";

/** Secrets strong enough for the options check (32 random bytes, in hex). */
export const SECRET_A =
  "8f14e45fceea167a5a36dedd4bea2543a1b2c3d4e5f60718293a4b5c6d7e8f90";
export const SECRET_B =
  "c9f0f895fb98ab9159f51fd0297e236d0123456789abcdeffedcba9876543210";
export const SECRET_C =
  "45c48cce2e2d7fbdea1afc51c7c6ad26ffeeddccbbaa99887766554433221100";

/** A port on 127.0.0.1 that was free a moment ago, for a server that cannot be given port 0. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Calls a handler directly, as Deno.serve would, with `cookie` as its Cookie header. */
export async function call(
  handler: Deno.ServeHandler,
  path: string,
  init: RequestInit & { cookie?: string } = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.cookie !== undefined) headers.set("cookie", init.cookie);
  return await callHandler(handler, path, { ...init, headers });
}

/** The `name=value` part of a Set-Cookie value, and its attributes. */
export function parseSetCookie(header: string) {
  const [pair, ...rest] = header.split(";").map((part) => part.trim());
  const equals = pair.indexOf("=");
  const attributes = new Map<string, string>();
  for (const attribute of rest) {
    const [name, ...value] = attribute.split("=");
    attributes.set(name.toLowerCase(), value.join("="));
  }
  return {
    name: pair.slice(0, equals),
    value: pair.slice(equals + 1),
    attributes,
  };
}

/** The `name=value` pair a response set, for the next request's Cookie header. */
export function cookieOf(response: Response): string {
  const header = response.headers.get("set-cookie");
  assert.notEqual(header, null, "a Set-Cookie header");
  const { name, value } = parseSetCookie(header!);
  return `${name}=${value}`;
}

/**
 * Steps for a framework adapter: a route that never asks for the session
 * (`/static`, answering 200, and `/missing`, 404), sent with a session
 * cookie through `request`, costs no store I/O and gets no Vary or
 * Set-Cookie.
 */
export async function untouchedRouteSteps(
  t: Deno.TestContext,
  store: SpyStore,
  request: (path: string, init: RequestInit) => Response | Promise<Response>,
): Promise<void> {
  const cases: Array<[string, number]> = [["/static", 200], ["/missing", 404]];
  for (const [path, status] of cases) {
    await t.step(path, async () => {
      const response = await request(path, {
        headers: { cookie: `sessionid=${"a".repeat(43)}` },
      });
      await response.body?.cancel();
      assert.equal(response.status, status);
      assert.equal(response.headers.get("vary"), null);
      assert.equal(response.headers.get("set-cookie"), null);
      assert.equal(store.gets + store.sets + store.deletes, 0);
    });
  }
}

/** A browser-like client: keeps the cookie a response sets and sends it back. */
export class Client {
  cookie: string | null = null;
  constructor(
    readonly handler: Deno.ServeHandler,
    readonly name = "sessionid",
  ) {}

  async get(path: string, init: RequestInit = {}): Promise<Response> {
    const response = await call(this.handler, path, {
      ...init,
      ...(this.cookie === null
        ? {}
        : { cookie: `${this.name}=${this.cookie}` }),
    });
    for (const header of response.headers.getSetCookie()) {
      const cookie = parseSetCookie(header);
      if (cookie.name !== this.name) continue;
      this.cookie = cookie.attributes.get("max-age") === "0"
        ? null
        : cookie.value;
    }
    return response;
  }

  async text(path: string, init: RequestInit = {}): Promise<string> {
    return await (await this.get(path, init)).text();
  }
}

/** Whether a record is a session's (not a rotation's forward, nor ended). */
function opens(record: SessionRecord): boolean {
  return record.movedTo === undefined && Object.keys(record.data).length > 0;
}

/** Counts the calls that reach a store; a UserIndex when the store is one. */
export class CountingStore<S extends SessionStore = SessionStore>
  implements SessionStore {
  gets = 0;
  sets = 0;
  deletes = 0;
  readonly listUser?: UserIndex["listUser"];
  /**
   * Runs after each get, before its answer is returned: to interleave
   * another process between a read and what the reader does next.
   */
  afterGet: (() => Promise<void>) | null = null;
  constructor(readonly inner: S) {
    if (isUserIndex(inner)) this.listUser = (user) => inner.listUser(user);
  }
  get(key: string): Promise<StoredSession | null> {
    this.gets++;
    const read = this.inner.get(key);
    const hook = this.afterGet;
    return hook === null ? read : read.then(async (stored) => {
      await hook();
      return stored;
    });
  }
  set(
    key: string,
    record: SessionRecord,
    condition: WriteCondition,
  ): Promise<string | null> {
    this.sets++;
    return this.inner.set(key, record, condition);
  }
  delete(key: string): Promise<void> {
    this.deletes++;
    return this.inner.delete(key);
  }
}

/**
 * A MemoryStore that counts calls and can be told to fail. `keys()` lists
 * the records that hold a session: not the forwarding records rotations
 * leave, nor the instant ones of an ending session.
 */
export class SpyStore implements SessionStore {
  gets = 0;
  sets = 0;
  deletes = 0;
  /** The keys `get` was asked for, in order. */
  readonly keysRead: string[] = [];
  fail: { get?: boolean; set?: boolean; delete?: boolean } = {};
  /** Runs before each set reaches the store: to interleave another process. */
  beforeSet: (() => Promise<void>) | null = null;
  readonly inner: MemoryStore;
  readonly #sessions: Set<string>;

  constructor(
    inner = new MemoryStore({ sweepInterval: 0 }),
    sessions = new Set<string>(),
  ) {
    this.inner = inner;
    this.#sessions = sessions;
  }

  /**
   * The same records as another process sees them: a store object of its
   * own, so that its writes do not queue behind this one's (writes coalesce
   * per store object) and race them through the records instead.
   */
  twin(): SpyStore {
    return new SpyStore(this.inner, this.#sessions);
  }

  get(key: string): Promise<StoredSession | null> {
    this.gets++;
    this.keysRead.push(key);
    if (this.fail.get) return Promise.reject(new Error("store down (get)"));
    return this.inner.get(key);
  }

  async set(
    key: string,
    record: SessionRecord,
    condition: WriteCondition,
  ): Promise<string | null> {
    const hook = this.beforeSet;
    this.beforeSet = null;
    if (hook) await hook();
    this.sets++;
    if (this.fail.set) throw new Error("store down (set)");
    const version = await this.inner.set(key, record, condition);
    if (version !== null) {
      if (condition.replaces !== undefined) {
        this.#sessions.delete(condition.replaces);
      }
      if (opens(record)) this.#sessions.add(key);
      else this.#sessions.delete(key);
    }
    return version;
  }

  delete(key: string): Promise<void> {
    this.deletes++;
    if (this.fail.delete) {
      return Promise.reject(new Error("store down (delete)"));
    }
    this.#sessions.delete(key);
    return this.inner.delete(key);
  }

  /** The keys of the sessions the store holds. */
  keys(): string[] {
    return [...this.#sessions];
  }

  /** The one session the store holds. */
  async only(): Promise<SessionRecord> {
    const keys = this.keys();
    if (keys.length !== 1) {
      throw new Error(`expected 1 record, found ${keys.length}`);
    }
    return (await this.inner.get(keys[0]))!.record;
  }
}

/** A promise and the function that settles it. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Runs `script` with `deno eval`; asserts it exits 0 and returns its stdout, trimmed. */
export async function evalScript(script: string): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (output.code !== 0) {
    throw new Error(
      `deno eval exited ${output.code}: ${decoder.decode(output.stderr)}`,
    );
  }
  return decoder.decode(output.stdout).trim();
}

/**
 * The changes the test apps' routes make to `session`: `/set?k=v&...` sets
 * each pair, `/delete?k&...` deletes each key, `/rotate?k=v&...` rotates and
 * then sets, `/clear`, `/flush`, and `/expiry?at=MS` setExpiry at that time.
 * Any other path changes nothing.
 */
export async function applyRoute(
  session: Session,
  pathname: string,
  params: [string, string][],
): Promise<void> {
  switch (pathname) {
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
    case "/clear":
      session.clear();
      break;
    case "/flush":
      await session.flush();
      break;
    case "/expiry": {
      const at = params.find(([key]) => key === "at")?.[1];
      session.setExpiry(new Date(Number(at)));
      break;
    }
  }
}

/** A record as the middleware writes one: the conformance suite's. */
export { makeRecord } from "../src/conformance.ts";

/** Both deadlines of a record at `at`, for {@linkcode makeRecord}. */
export function deadlines(
  at: number,
): Pick<SessionRecord, "absoluteExpiresAt" | "expiresAt"> {
  return { absoluteExpiresAt: at, expiresAt: at };
}
