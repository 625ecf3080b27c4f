import assert from "node:assert/strict";
import { FileStore, type SessionRecord } from "../mod.ts";

const ROOT = `${import.meta.dirname}/..`;
const COMMAND = `${ROOT}/bin/clearsessions.ts`;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(args: string[]): Promise<Ran> {
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** The command with only the directory readable and writable. */
function clearSessions(dir: string, ...args: string[]): Promise<Ran> {
  return run([
    "run",
    `--allow-read=${dir}`,
    `--allow-write=${dir}`,
    COMMAND,
    ...args,
  ]);
}

function record(expiresAt: number): SessionRecord {
  return {
    data: { user: "ram" },
    createdAt: 0,
    lastActiveAt: 0,
    absoluteExpiresAt: expiresAt,
    expiresAt,
    browserSession: false,
  };
}

function newKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function names(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) found.push(entry.name);
  return found.sort();
}

Deno.test("clearsessions removes expired sessions and prints the count", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clearsessions_" });
  try {
    const store = new FileStore(dir, { sweepInterval: 0 });
    const live = [newKey(), newKey()];
    for (const key of live) {
      await store.set(key, record(Date.now() + 3_600_000), { version: null });
    }
    for (let i = 0; i < 3; i++) {
      await store.set(newKey(), record(Date.now() - 1_000), { version: null });
    }
    await Deno.writeTextFile(`${dir}/${newKey()}`, "{ truncated");
    await Deno.writeTextFile(`${dir}/README.txt`, "not a session");

    // Through the task in deno.json, as a user runs it.
    const first = await run(["task", "-q", "clearsessions", "--dir", dir]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, `Removed 4 expired sessions from ${dir}\n`);
    assert.deepEqual(await names(dir), [...live, "README.txt"].sort());

    // With least permissions: the directory only.
    const second = await clearSessions(dir, `--dir=${dir}`);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, `Removed 0 expired sessions from ${dir}\n`);
    for (const key of live) assert.notEqual(await store.get(key), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("clearsessions fails on a missing directory, without creating it", async () => {
  const parent = await Deno.makeTempDir({ prefix: "clearsessions_" });
  try {
    const missing = `${parent}/typo`;
    const ran = await clearSessions(parent, "--dir", missing);
    assert.equal(ran.code, 1);
    assert.equal(ran.stdout, "");
    assert.match(ran.stderr, new RegExp(`^clearsessions: ${missing}: `));
    assert.deepEqual(await names(parent), []);

    await Deno.writeTextFile(missing, "");
    const onFile = await clearSessions(parent, "--dir", missing);
    assert.equal(onFile.code, 1);
    assert.match(onFile.stderr, /not a directory/);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("clearsessions explains its usage", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clearsessions_" });
  try {
    const none = await clearSessions(dir);
    assert.equal(none.code, 2);
    assert.match(
      none.stderr,
      /--dir is required\nusage: clearsessions --dir DIR/,
    );
    const unknown = await clearSessions(dir, "--dri", dir);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /usage: clearsessions --dir DIR/);
    const help = await clearSessions(dir, "--help");
    assert.equal(help.code, 0);
    assert.equal(help.stdout, "usage: clearsessions --dir DIR\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("clearsessions sweeps past what it cannot sweep, names each, and exits 3", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clearsessions_" });
  try {
    const store = new FileStore(dir, { sweepInterval: 0 });
    const expired = Array.from({ length: 300 }, newKey);
    for (const key of expired) {
      await store.set(key, record(Date.now() - 1_000), { version: null });
    }
    // One record the command may not read (root reads any file, so the
    // permission is taken from it by Deno instead of by chmod), and a
    // directory where another one's lock goes.
    const [unreadable, locked] = expired;
    await Deno.mkdir(`${dir}/${locked}.lock`);
    const ran = await run([
      "run",
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      `--deny-read=${dir}/${unreadable}`,
      COMMAND,
      "--dir",
      dir,
    ]);
    assert.equal(ran.code, 3, ran.stderr);
    assert.equal(ran.stdout, `Removed 298 expired sessions from ${dir}\n`);
    const lines = ran.stderr.trimEnd().split("\n").sort();
    assert.equal(lines.length, 4, ran.stderr);
    assert.equal(
      lines[0],
      "clearsessions: 3 entries could not be swept; they are named above",
    );
    const skipped = lines.slice(1);
    const lockIsADirectory =
      `FileStore: ${dir}/${locked}.lock is a directory, not a lock file`;
    assert.ok(
      skipped.includes(
        `clearsessions: skipped ${dir}/${locked}: ${lockIsADirectory}`,
      ),
      ran.stderr,
    );
    assert.ok(
      skipped.includes(
        `clearsessions: skipped ${dir}/${locked}.lock: ${lockIsADirectory}`,
      ),
      ran.stderr,
    );
    assert.ok(
      skipped.some((line) =>
        line.startsWith(
          `clearsessions: skipped ${dir}/${unreadable}: Requires read access`,
        )
      ),
      ran.stderr,
    );
    assert.deepEqual(
      await names(dir),
      [unreadable, locked, `${locked}.lock`].sort(),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
