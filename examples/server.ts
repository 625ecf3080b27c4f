/**
 * The example server: the seed's /set and /get, and a login page that shows
 * rotation, logout, and the absolute and idle timeouts.
 *
 *   deno task start                      # Deno KV in ./sessions.kv, port 8000
 *   deno task start --store memory       # in-process, lost on exit
 *   deno task start --idle 30 --absolute 60
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
 *   GET  /               a login page with the session's state
 *   POST /login          username from the form; rotates the session id
 *   POST /logout         flushes the session
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  FileStore,
  getSession,
  KvStore,
  MemoryStore,
  type SessionOptions,
  type SessionStore,
  withSession,
} from "../mod.ts";

/** The example's command-line flags. */
export interface ServerFlags {
  store: string;
  /** The Deno KV file of `--store kv`. Default `./sessions.kv`. */
  kvPath?: string;
  /** The directory of `--store file`; default `./sessions`. */
  dir?: string;
  idle?: number;
  absolute?: number;
}

type Data = { sname: string; user: string; loginAt: string };

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The example's handler, without a session around it. */
export async function app(req: Request): Promise<Response> {
  const url = new URL(req.url);
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case "GET /set": {
      const session = await getSession(req);
      const pairs = [...url.searchParams];
      if (pairs.length === 0) pairs.push(["sname", "Ram"]);
      for (const [key, value] of pairs) session.set(key, value);
      return new Response("User session is set\n");
    }
    case "GET /get": {
      const session = await getSession<Data>(req);
      const name = session.get("sname");
      if (name === undefined) {
        const why = session.wasExpired ? "your session expired" : "no session";
        return new Response(`Hello stranger: ${why}. Visit /set first.\n`);
      }
      return new Response(`Welcome ${name}\n`);
    }
    case "GET /data": {
      const session = await getSession(req);
      return Response.json(Object.fromEntries(session.entries()));
    }
    case "POST /login": {
      // A body that is not a form counts as a missing username.
      const form = await req.formData().catch(() => null);
      const username = String(form?.get("username") ?? "").trim();
      if (username === "") {
        return new Response("username is required\n", { status: 400 });
      }
      const session = await getSession<Data>(req);
      await session.rotate();
      session.set("user", username);
      session.set("loginAt", new Date().toISOString());
      return Response.redirect(new URL("/", url), 303);
    }
    case "POST /logout": {
      const session = await getSession(req);
      await session.flush();
      return Response.redirect(new URL("/", url), 303);
    }
    case "GET /": {
      const session = await getSession<Data>(req);
      const user = session.get("user");
      const expires = session.expiresAt?.toISOString() ?? "-";
      const body = user === undefined
        ? `<p>${
          session.wasExpired ? "Your session expired. " : ""
        }Not logged in.</p>
<form method="post" action="/login"><input name="username" placeholder="name" required> <button>Log in</button></form>`
        : `<p>Logged in as <b>${escapeHtml(user)}</b> since ${
          session.get("loginAt")
        }.</p>
<p>Session expires at ${expires} (started with --idle, each visit moves this later, up to the --absolute limit).</p>
<form method="post" action="/logout"><button>Log out</button></form>`;
      return new Response(
        `<!doctype html><title>@denokit/session</title>${body}\n`,
        { headers: { "content-type": "text/html; charset=utf-8" } },
      );
    }
    default:
      return new Response("Not found\n", { status: 404 });
  }
}

/**
 * Opens a KV file. Processes that open a file not created yet while another
 * writes to it can find it locked (measured: 2 opens in 300, never once the
 * file exists), so a locked open is tried again, up to 10 times.
 */
async function openKvFile(path: string): Promise<Deno.Kv> {
  for (let attempt = 1;; attempt++) {
    try {
      return await Deno.openKv(path);
    } catch (error) {
      const locked = error instanceof Error &&
        error.message.includes("database is locked");
      if (!locked || attempt === 10) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10 * attempt));
    }
  }
}

/**
 * Opens the store the flags name. For `kv` it opens the KV file, which stays
 * open as long as the server runs.
 */
export async function openStore(flags: ServerFlags): Promise<SessionStore> {
  switch (flags.store) {
    case "kv":
      return new KvStore(await openKvFile(flags.kvPath ?? "./sessions.kv"));
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
): SessionOptions {
  return {
    store,
    absoluteTimeout: flags.absolute,
    idleTimeout: flags.idle ?? null,
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

/** Parses the flags and starts the server; a bad flag ends with a message. */
async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      store: { type: "string", default: "kv" },
      "kv-path": { type: "string", default: "./sessions.kv" },
      dir: { type: "string", default: "./sessions" },
      port: { type: "string", default: "8000" },
      hostname: { type: "string", default: "127.0.0.1" },
      idle: { type: "string" },
      absolute: { type: "string" },
    },
  });
  const flags: ServerFlags = {
    store: values.store,
    kvPath: values["kv-path"],
    dir: values.dir,
    idle: numberFlag("idle", values.idle),
    absolute: numberFlag("absolute", values.absolute),
  };
  const store = await openStore(flags);
  Deno.serve({
    hostname: values.hostname,
    port: Number(values.port),
    onListen: ({ hostname, port }) =>
      console.log(`Listening on http://${hostname}:${port}/`),
  }, withSession(app, sessionOptions(flags, store)));
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(`examples/server.ts: ${(error as Error).message}`);
    Deno.exit(2);
  }
}
