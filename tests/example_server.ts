/** Runs examples/server.ts (or another server script) as a real `deno run` process, for the tests over HTTP. */

const root = new URL("../", import.meta.url);
const STARTUP_MS = 20_000;
/** How long a server has to stop on SIGTERM before it is killed. */
const STOP_MS = 5_000;

/** A running server process. */
export interface ExampleServer extends AsyncDisposable {
  /** Its address, without a trailing slash: `http://127.0.0.1:PORT`. */
  url: string;
  /** Stops it; resolves to what it wrote on stderr. */
  stop(): Promise<string>;
}

/** The permissions of the `start` task in deno.json, the ones README gives. */
export async function startTaskPermissions(): Promise<string[]> {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", root)),
  );
  const [deno, run, ...rest] = (config.tasks.start as string).split(" ");
  if (deno !== "deno" || run !== "run") {
    throw new Error(`unexpected start task: ${config.tasks.start}`);
  }
  return rest.filter((arg) => arg.startsWith("--allow-"));
}

/**
 * Starts the example on port 0 with `permissions` (default: the start
 * task's) and `args`, and resolves once it prints its Listening line.
 */
export async function startExample(
  options: { permissions?: string[]; args?: string[] } = {},
): Promise<ExampleServer> {
  return await startServer("examples/server.ts", {
    permissions: options.permissions ?? await startTaskPermissions(),
    args: options.args,
  });
}

/**
 * Starts `script` (a path from the repository's root) with `permissions`
 * and any other `flags` of `deno run`, `--port=0` and `args`, and resolves
 * once it prints `Listening on http://127.0.0.1:PORT/`.
 */
export async function startServer(
  script: string,
  options: { permissions: string[]; flags?: string[]; args?: string[] },
): Promise<ExampleServer> {
  return await startDeno([
    "run",
    "--no-prompt",
    ...options.permissions,
    ...options.flags ?? [],
    script,
    "--port=0",
    ...options.args ?? [],
  ]);
}

/**
 * Runs `deno` with `args` from the repository's root, in an environment of
 * `NO_COLOR` and `env`, and resolves once it prints
 * `Listening on http://127.0.0.1:PORT/`.
 */
export async function startDeno(
  args: string[],
  env: Record<string, string> = {},
): Promise<ExampleServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stopped: Promise<string> | null = null;
  const stop = () =>
    stopped ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // It has exited already.
      }
      await reader.cancel();
      // A server that ignores SIGTERM (a stuck worker) is killed, so that a
      // test never hangs on it.
      const kill = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // It has exited meanwhile.
        }
      }, STOP_MS);
      await child.status;
      clearTimeout(kill);
      return await stderr;
    })();
  let output = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no Listening line within ${STARTUP_MS} ms`)),
      STARTUP_MS,
    );
  });
  try {
    for (let reads = 0; reads < 1_000; reads++) {
      const match = output.match(/Listening on (http:\/\/127\.0\.0\.1:\d+)\//);
      if (match !== null) {
        return {
          url: match[1],
          stop,
          [Symbol.asyncDispose]: async () => void await stop(),
        };
      }
      const { value, done } = await Promise.race([reader.read(), timeout]);
      if (done) throw new Error("the server exited before listening");
      output += value;
    }
    throw new Error("too much output before the Listening line");
  } catch (error) {
    const log = await stop();
    throw new Error(`${(error as Error).message}\n${output}\n${log}`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A server of tests/session_server.ts on `store` (`memory`, `kv`, `file` at
 * `path`, or `redis` at `redisUrl`), with the least permissions it needs
 * (the loopback, and the store's file or directory, or the one variable
 * npm:redis reads), and `args` and `flags`.
 */
export function startSessionServer(
  store: string,
  path: string,
  options: { redisUrl?: string; args?: string[]; flags?: string[] } = {},
): Promise<ExampleServer> {
  const { redisUrl = "" } = options;
  const files = path === "" ? [] : [
    `--allow-read=${path}`,
    `--allow-write=${path}`,
  ];
  const env = redisUrl === "" ? [] : ["--allow-env=REDIS_DEBUG_MAINTENANCE"];
  return startServer("tests/session_server.ts", {
    permissions: ["--allow-net=127.0.0.1", ...files, ...env],
    flags: options.flags,
    args: [
      "--store",
      store,
      "--path",
      path,
      "--redis-url",
      redisUrl,
      ...options.args ?? [],
    ],
  });
}

/** What a request to tests/session_server.ts got back. */
export interface Answer {
  status: number;
  data: Record<string, string>;
  /** The `name=value` of a Set-Cookie sent, or null. */
  cookie: string | null;
}

/** What tests/session_server.ts says of itself at /stats. */
export interface Stats {
  gets: number;
  sets: number;
  deletes: number;
  size: number | null;
  connections: number;
  memory: Deno.MemoryUsage;
}

/** The /stats of a tests/session_server.ts server. */
export async function stats(server: ExampleServer): Promise<Stats> {
  return await (await fetch(`${server.url}/stats`)).json();
}

/** A GET of `url` with `cookie`, its body read. */
export async function send(
  url: string,
  cookie: string | null,
): Promise<Answer> {
  const response = await fetch(url, {
    headers: cookie === null ? {} : { cookie },
  });
  const text = await response.text();
  const setCookie = response.headers.get("set-cookie");
  return {
    status: response.status,
    data: response.ok ? JSON.parse(text) : { error: text },
    cookie: setCookie === null
      ? null
      : setCookie.slice(0, setCookie.indexOf(";")),
  };
}
