/**
 * The example server: the seed's /set and /get, and a login page that shows
 * rotation, logout, and the absolute and idle timeouts.
 *
 *   deno task start                      # Deno KV in ./sessions.kv, port 8000
 *   deno task start --store memory       # in-process, lost on exit
 *   deno task start --idle 30 --absolute 60
 *   deno task start --expire-at-browser-close
 *   deno run --allow-net=127.0.0.1 --allow-read=./sessions --allow-write=./sessions \
 *     examples/server.ts --store file --dir ./sessions
 *
 * The task may read and write ./sessions.kv only (SQLite's -wal and -shm files
 * beside it need no permission of their own). For another file, run
 * `deno run --allow-net=127.0.0.1 --allow-read=FILE --allow-write=FILE
 * examples/server.ts --kv-path FILE`.
 *
 * Routes:
 *   GET  /set            stores sname = "Ram" (or each ?key=value given)
 *   GET  /get            "Welcome Ram"
 *   GET  /data           the session's data as JSON
 *   GET  /               the home page: who is logged in, logout, the
 *                        session's contents, its deadlines counting down,
 *                        and the user's devices
 *   GET  /login          the login form; sets Django's test cookie
 *   POST /login          username from the form; rotates the session id,
 *                        or says that cookies are off
 *   POST /logout         flushes the session
 *   POST /logout-others  ends the user's other sessions
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  endUserSessions,
  FileStore,
  getSession,
  KvStore,
  listUserSessions,
  MemoryStore,
  openKv,
  type Session,
  type SessionOptions,
  type SessionStore,
  withSession,
} from "../mod.ts";
import { type Data, greeting, homePage, logIn } from "./page.ts";

/** The example's command-line flags. */
export interface ServerFlags {
  store: string;
  /** The Deno KV file of `--store kv`. Default `./sessions.kv`. */
  kvPath?: string;
  /** The directory of `--store file`; default `./sessions`. */
  dir?: string;
  /** `--idle SECONDS`: the idle timeout. */
  idle?: number;
  /** `--absolute SECONDS`: the absolute timeout. */
  absolute?: number;
  /** `--expire-at-browser-close`: cookies without Max-Age or Expires. */
  expireAtBrowserClose?: boolean;
  port: number;
  hostname: string;
}

/** The session's data key that holds the user: the `userKey` option. */
const USER_KEY = "user";

/** The home page as a response. */
export function htmlPage(html: string, status = 200): Response {
  return new Response(html, {
    status,
    headers: { "content-type": "text/html; charset=utf-8" },
  });
}

/**
 * The page's HTML for `session`: with the user's devices once logged in.
 * The login page (`login`) sets the test cookie that the login checks; the
 * home page stores nothing for a visitor who is not logged in.
 */
export async function pageOf(
  store: SessionStore,
  session: Session<Data>,
  login?: { error?: string },
): Promise<string> {
  const user = session.get("user");
  if (user !== undefined) {
    return homePage(session, { devices: await listUserSessions(store, user) });
  }
  if (login === undefined) return homePage(session);
  session.setTestCookie();
  return homePage(session, { loginForm: true, loginError: login.error });
}

/** Ends the other sessions of the session's user ("log out other devices"). */
export async function logOutOthers(
  store: SessionStore,
  session: Session<Data>,
): Promise<void> {
  const user = session.get("user");
  if (user !== undefined) {
    await endUserSessions(store, user, { except: session });
  }
}

/** The example's handler on `store`, without a session around it. */
function exampleApp(
  store: SessionStore,
): (req: Request) => Promise<Response> {
  return (req) => route(store, req);
}

async function route(store: SessionStore, req: Request): Promise<Response> {
  const url = new URL(req.url);
  switch (`${req.method} ${url.pathname}`) {
    case "GET /set": {
      const session = await getSession(req);
      const pairs = [...url.searchParams];
      if (pairs.length === 0) pairs.push(["sname", "Ram"]);
      for (const [key, value] of pairs) session.set(key, value);
      return new Response("User session is set\n");
    }
    case "GET /get":
      return new Response(greeting(await getSession<Data>(req)));
    case "GET /data": {
      const session = await getSession(req);
      return Response.json(Object.fromEntries(session.entries()));
    }
    case "POST /login": {
      // A body that is not a form counts as a missing username.
      const form = await req.formData().catch(() => null);
      const username = String(form?.get("username") ?? "").trim();
      const session = await getSession<Data>(req);
      const problem = await logIn(session, username);
      if (problem === null) return Response.redirect(new URL("/", url), 303);
      return username === ""
        ? new Response(problem, { status: 400 })
        : htmlPage(await pageOf(store, session, { error: problem }), 400);
    }
    case "GET /login": {
      const session = await getSession<Data>(req);
      if (session.has("user")) return Response.redirect(new URL("/", url), 303);
      return htmlPage(await pageOf(store, session, {}));
    }
    case "POST /logout": {
      const session = await getSession(req);
      await session.flush();
      return Response.redirect(new URL("/", url), 303);
    }
    case "POST /logout-others":
      await logOutOthers(store, await getSession<Data>(req));
      return Response.redirect(new URL("/", url), 303);
    case "GET /":
      return htmlPage(await pageOf(store, await getSession<Data>(req)));
    default:
      return new Response("Not found\n", { status: 404 });
  }
}

/**
 * Opens the store the flags name. For `kv` it opens the KV file, which stays
 * open as long as the server runs.
 */
export async function openStore(flags: ServerFlags): Promise<SessionStore> {
  switch (flags.store) {
    case "kv":
      return new KvStore(await openKv(flags.kvPath ?? "./sessions.kv"));
    case "memory":
      return new MemoryStore();
    case "file":
      return new FileStore(flags.dir ?? "./sessions");
    default:
      throw new TypeError(
        `--store must be kv, memory or file, got ${flags.store}`,
      );
  }
}

/** The session options the flags ask for. */
export function sessionOptions(
  flags: ServerFlags,
  store: SessionStore,
): SessionOptions & { store: SessionStore } {
  return {
    store,
    userKey: USER_KEY,
    absoluteTimeout: flags.absolute,
    idleTimeout: flags.idle ?? null,
    expireAtBrowserClose: flags.expireAtBrowserClose ?? false,
  };
}

function numberFlag(name: string, value: string | undefined) {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) {
    throw new TypeError(
      `--${name} takes a number of seconds > 0, got ${value}`,
    );
  }
  return number;
}

/** Parses the example's flags; throws a TypeError naming a bad one. */
export function parseFlags(args: string[]): ServerFlags {
  const { values } = parseArgs({
    args,
    options: {
      store: { type: "string", default: "kv" },
      "kv-path": { type: "string", default: "./sessions.kv" },
      dir: { type: "string", default: "./sessions" },
      port: { type: "string", default: "8000" },
      hostname: { type: "string", default: "127.0.0.1" },
      idle: { type: "string" },
      absolute: { type: "string" },
      "expire-at-browser-close": { type: "boolean", default: false },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`--port takes 0 to 65535, got ${values.port}`);
  }
  return {
    store: values.store,
    kvPath: values["kv-path"],
    dir: values.dir,
    idle: numberFlag("idle", values.idle),
    absolute: numberFlag("absolute", values.absolute),
    expireAtBrowserClose: values["expire-at-browser-close"],
    port,
    hostname: values.hostname,
  };
}

/** Serves `handler` where the flags say, and prints the address. */
export function listen(flags: ServerFlags, handler: Deno.ServeHandler) {
  return Deno.serve({
    hostname: flags.hostname,
    port: flags.port,
    onListen: ({ hostname, port }) =>
      console.log(`Listening on http://${hostname}:${port}/`),
  }, handler);
}

/** Runs `main`; a bad flag or store ends the process with a message. */
export async function run(name: string, main: () => Promise<unknown>) {
  try {
    await main();
  } catch (error) {
    console.error(`${name}: ${(error as Error).message}`);
    Deno.exit(2);
  }
}

if (import.meta.main) {
  await run("examples/server.ts", async () => {
    const flags = parseFlags(Deno.args);
    const store = await openStore(flags);
    listen(flags, withSession(exampleApp(store), sessionOptions(flags, store)));
  });
}
