// Helpers for the RedisStore tests: throwaway redis-server processes on
// 127.0.0.1 in a temporary directory, and clients of both libraries set up
// as README says.

import { createClient } from "redis";
import { Redis } from "ioredis";
import { freePort } from "./helpers.ts";

const STARTUP_MS = 10_000;

/** A redis-server of a test, on 127.0.0.1, with its data in a temporary directory. */
export interface RedisServer extends AsyncDisposable {
  readonly port: number;
  /** The process id of the running server. */
  readonly pid: number;
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string;
  readonly dir: string;
  /** Stops the process (SIGTERM: Redis saves what its persistence says first). */
  stop(): Promise<void>;
  /** Kills the process (SIGKILL, even while paused): it saves nothing more. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory. */
  start(): Promise<void>;
  /** Freezes and thaws the process (SIGSTOP, SIGCONT): a server that hangs. */
  pause(): void;
  resume(): void;
  /** Runs a command with redis-cli; its output, trimmed. */
  cli(...args: string[]): Promise<string>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (free when asked: a server may take it first). */
/** Runs redis-cli against `port`; its stdout, trimmed. */
export async function cli(port: number, ...args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command("redis-cli", {
    args: ["-h", "127.0.0.1", "-p", String(port), ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (code !== 0) {
    throw new Error(
      `redis-cli ${args.join(" ")} exited ${code}: ${decoder.decode(stderr)}`,
    );
  }
  return decoder.decode(stdout).trim();
}

/** Whether a redis-server answers PING on `port`. */
async function answers(port: number): Promise<boolean> {
  let connection: Deno.TcpConn;
  try {
    connection = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return false;
  }
  try {
    await connection.write(new TextEncoder().encode("PING\r\n"));
    const buffer = new Uint8Array(64);
    const read = await connection.read(buffer);
    return read !== null &&
      new TextDecoder().decode(buffer.subarray(0, read)).startsWith("+PONG");
  } catch {
    return false;
  } finally {
    connection.close();
  }
}

/**
 * Starts `redis-server` on a free port with no persistence (unless `args`
 * say otherwise), pinned to `cpus` with taskset if given, and resolves once
 * it answers PING.
 */
export async function startRedis(
  options: { args?: string[]; cpus?: string } = {},
): Promise<RedisServer> {
  const dir = await Deno.makeTempDir({ prefix: "redis_test_" });
  let port = freePort();
  let child: Deno.ChildProcess | null = null;

  const spawn = async () => {
    const pin = options.cpus === undefined
      ? []
      : ["taskset", "-c", options.cpus];
    const [command, ...prefix] = [...pin, "redis-server"];
    const process = new Deno.Command(command, {
      args: [
        ...prefix,
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--logfile",
        "redis.log",
        "--save",
        "",
        "--appendonly",
        "no",
        ...options.args ?? [],
      ],
      cwd: dir,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    let exited = false;
    process.status.then(() => (exited = true));
    const deadline = Date.now() + STARTUP_MS;
    while (!exited && Date.now() < deadline) {
      if (await answers(port)) {
        child = process;
        return true;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (!exited) process.kill("SIGKILL");
    await process.status;
    return false;
  };

  const end = async (signals: Deno.Signal[]) => {
    const running = child;
    child = null;
    if (running === null) return;
    for (const signal of signals) running.kill(signal);
    await running.status;
  };
  const stop = () => end(["SIGCONT", "SIGTERM"]);

  const start = async () => {
    if (child !== null) throw new Error("redis-server is running already");
    if (!await spawn()) {
      const log = await Deno.readTextFile(`${dir}/redis.log`).catch(() => "");
      throw new Error(`redis-server did not start on port ${port}:\n${log}`);
    }
  };

  try {
    // The port was free a moment ago; another process may have taken it.
    let started = await spawn();
    for (let attempt = 1; !started && attempt < 5; attempt++) {
      port = freePort();
      started = await spawn();
    }
    if (!started) await start();
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }

  const signal = (name: Deno.Signal) => {
    if (child === null) throw new Error("redis-server is not running");
    child.kill(name);
  };
  const close = async () => {
    await stop();
    await Deno.remove(dir, { recursive: true });
  };
  return {
    port,
    get pid() {
      if (child === null) throw new Error("redis-server is not running");
      return child.pid;
    },
    url: `redis://127.0.0.1:${port}`,
    dir,
    stop,
    kill: () => end(["SIGKILL"]),
    start,
    pause: () => signal("SIGSTOP"),
    resume: () => signal("SIGCONT"),
    cli: (...args) => cli(port, ...args),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * A connected npm:redis client, configured as README says: commands fail
 * while Redis is unreachable. Its error events (each lost connection) are
 * ignored: the commands themselves reject.
 */
export async function nodeRedisClient(url: string) {
  const client = createClient({ url, disableOfflineQueue: true });
  client.on("error", () => {});
  await client.connect();
  return client;
}

/** A connected npm:ioredis client, configured as README says. */
export async function ioRedisClient(port: number) {
  const client = new Redis({
    host: "127.0.0.1",
    port,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
  });
  client.on("error", () => {});
  await client.connect();
  return client;
}

/**
 * A TCP proxy in front of a redis-server, to lose a connection while Redis
 * itself runs on: after `hold()` Redis's answers are dropped (the commands
 * still run, as when a network fails after the request went through);
 * `cut()` closes every connection and stops dropping. Clients then
 * reconnect through it.
 */
export interface RedisProxy extends AsyncDisposable {
  readonly port: number;
  hold(): void;
  cut(): Promise<void>;
  close(): Promise<void>;
}

export function startProxy(target: number): RedisProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const pairs = new Set<{ close(): void; done: Promise<unknown> }>();
  let held = false;

  /** Copies `from` to `to` until either closes (while held, `holdable` drops). */
  const pump = async (
    from: Deno.TcpConn,
    to: Deno.TcpConn,
    holdable: boolean,
  ) => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const read = await from.read(buffer);
        if (read === null) return;
        if (holdable && held) continue;
        let written = 0;
        while (written < read) {
          written += await to.write(buffer.subarray(written, read));
        }
      }
    } catch {
      // A side closed: the pair is done.
    }
  };

  const accepting = (async () => {
    for await (const client of listener) {
      let upstream: Deno.TcpConn;
      try {
        upstream = await Deno.connect({ hostname: "127.0.0.1", port: target });
      } catch {
        client.close();
        continue;
      }
      const close = () => {
        for (const conn of [client, upstream]) {
          try {
            conn.close();
          } catch {
            // Closed already.
          }
        }
      };
      const pumps = [
        pump(client, upstream, false),
        pump(upstream, client, true),
      ];
      const done = Promise.race(pumps).then(close).then(() =>
        Promise.all(pumps)
      );
      const pair = { close, done };
      pairs.add(pair);
      done.then(() => pairs.delete(pair));
    }
  })();

  const cut = async () => {
    const open = [...pairs];
    for (const pair of open) pair.close();
    await Promise.all(open.map((pair) => pair.done));
    held = false;
  };
  const close = async () => {
    listener.close();
    await accepting.catch(() => {});
    await cut();
  };
  return {
    port: (listener.addr as Deno.NetAddr).port,
    hold: () => (held = true),
    cut,
    close,
    [Symbol.asyncDispose]: close,
  };
}
