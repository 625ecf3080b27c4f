import assert from "node:assert/strict";
import { closeSync, constants, openSync } from "node:fs";
import { deadlines, evalScript, makeRecord } from "./helpers.ts";
import {
  FileStore,
  getSession,
  type SessionData,
  SessionTooLargeError,
  withSession,
} from "../mod.ts";
import { testSessionStore } from "../testing.ts";

/** A record of fixed times (so that two of them compare equal) with these deadlines. */
const record = (at: number, data: SessionData = { n: 1 }) =>
  makeRecord(data, { createdAt: 0, lastActiveAt: 0, ...deadlines(at) });

const POSIX = Deno.build.os !== "windows";

Deno.test("FileStore passes the conformance suite", async (t) => {
  await testSessionStore(t, {
    create: async () =>
      new FileStore(await Deno.makeTempDir({ prefix: "file_store_" })),
    dispose: async (store) => {
      await store.close();
      const dir = store.dir;
      // Every lock is released and no temporary file is left: only records,
      // and the users' filings (a directory of one per user, of one empty
      // file per session).
      const hex = /^[0-9a-f]{64}$/;
      for await (const entry of Deno.readDir(dir)) {
        if (entry.name === "users" && entry.isDirectory) {
          for await (const user of Deno.readDir(`${dir}/users`)) {
            assert.match(user.name, hex);
            for await (
              const filed of Deno.readDir(`${dir}/users/${user.name}`)
            ) {
              assert.match(filed.name, hex);
            }
          }
          continue;
        }
        assert.match(entry.name, hex);
      }
      await Deno.remove(dir, { recursive: true });
    },
  });
});

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "file_store_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function newKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const LATER = Date.now() + 3_600_000;

async function names(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) found.push(entry.name);
  return found.sort();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Whether `promise` is still pending once `ms` have passed. */
async function stillPending(promise: Promise<unknown>, ms: number) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pending = Symbol("pending");
  const result = await Promise.race([
    promise.then(() => "settled", () => "settled"),
    new Promise((resolve) => (timer = setTimeout(() => resolve(pending), ms))),
  ]);
  clearTimeout(timer);
  return result === pending;
}

const BAD_KEYS = [
  "",
  "../escaped",
  "../../etc/passwd",
  "..\\x",
  "%2e%2e",
  "a\0b",
  `../${newKey()}`,
  `${newKey()}/../x`,
  newKey().toUpperCase(),
  newKey().slice(1),
  `${newKey()}0`,
  `${newKey()}.lock`,
  `${newKey()}\n`,
  "f".repeat(100_000),
];

Deno.test("FileStore refuses a key that is not 64 lowercase hex, touching nothing", async () => {
  await inTempDir(async (parent) => {
    const dir = `${parent}/store`;
    const store = new FileStore(dir, { sweepInterval: 0 });
    const good = newKey();
    for (const key of BAD_KEYS) {
      await assert.rejects(store.get(key), TypeError);
      await assert.rejects(
        store.set(key, record(LATER), { version: null }),
        TypeError,
      );
      await assert.rejects(
        store.set(good, record(LATER), { version: null, replaces: key }),
        TypeError,
      );
      await assert.rejects(store.delete(key), TypeError);
    }
    assert.deepEqual(await names(parent), ["store"]);
    assert.deepEqual(await names(dir), []);
    // The message does not repeat the key: it may be a raw session id.
    const id = "Rq4xZ2vY8mN3pL0sT6uW9aB1cD5eF7gH2iJ4kK6lM8n";
    await assert.rejects(
      store.get(id),
      (error: Error) => !error.message.includes(id.slice(0, 8)),
    );
    // Without its directory, a store that touches the disk fails, saying
    // so; a bad key still fails first, as a TypeError.
    await Deno.remove(dir);
    await assert.rejects(store.get(good), /session directory .* is missing/);
    await assert.rejects(store.get("../store"), TypeError);
    await assert.rejects(
      store.set("../x", record(LATER), { version: null }),
      TypeError,
    );
    assert.deepEqual(await names(parent), []);
  });
});

/** A handler that reports its session and stores a value. */
async function probe(req: Request): Promise<Response> {
  const session = await getSession(req);
  const report = {
    isNew: session.isNew,
    data: Object.fromEntries(session.entries()),
  };
  session.set("seen", true);
  return Response.json(report);
}

function sessionCookie(response: Response): string {
  const value = response.headers.get("set-cookie") ?? "";
  const match = /^sessionid=([^;]*)/.exec(value);
  assert.ok(match, `no session cookie in ${value}`);
  return match[1];
}

/** Sends raw bytes to the server and returns the status code it answers. */
async function rawRequest(port: number, head: string): Promise<number> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await connection.write(new TextEncoder().encode(head));
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(4096);
    for (let i = 0; i < 1000; i++) {
      const n = await connection.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
    const text = new TextDecoder().decode(
      new Uint8Array(chunks.flatMap((chunk) => [...chunk])),
    );
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
  } finally {
    connection.close();
  }
}

Deno.test("FileStore: no cookie value chooses a path (real requests)", async () => {
  await inTempDir(async (parent) => {
    const dir = `${parent}/store`;
    const store = new FileStore(dir, { sweepInterval: 0 });
    await using server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      withSession(probe, { store }),
    );
    const port = server.addr.port;
    const evil = [
      "../../etc/passwd",
      "..\\x",
      "..%2f..%2fetc%2fpasswd",
      "%2e%2e",
      `"../${"a".repeat(40)}"`,
      "../".repeat(3000),
      `${"A".repeat(43)}/../x`,
    ];
    let sessions = 0;
    for (const value of evil) {
      const response = await fetch(`http://127.0.0.1:${port}/`, {
        headers: { cookie: `sessionid=${value}` },
      });
      assert.equal(response.status, 200, value);
      assert.deepEqual(await response.json(), { isNew: true, data: {} });
      assert.match(sessionCookie(response), /^[A-Za-z0-9_-]{43}$/);
      sessions++;
    }
    // NUL cannot go through fetch; send it raw. The server may refuse the
    // request (400) or serve a new session; it never fails or escapes.
    const status = await rawRequest(
      port,
      "GET / HTTP/1.1\r\nHost: x\r\nCookie: sessionid=..\0/..\0/x\r\nConnection: close\r\n\r\n",
    );
    assert.ok(status === 200 || status === 400, `status ${status}`);
    if (status === 200) sessions++;
    const files = await names(dir);
    assert.equal(files.length, sessions);
    for (const name of files) assert.match(name, /^[0-9a-f]{64}$/);
    assert.deepEqual(await names(parent), ["store"]);
  });
});

Deno.test("FileStore: a corrupt record file is no session, and is removed", async () => {
  await inTempDir(async (dir) => {
    const store = new FileStore(dir, { sweepInterval: 0 });
    const key = newKey();
    const path = `${dir}/${key}`;
    const good = JSON.stringify({ version: "v1", record: record(LATER) });
    const corrupt: Array<string | Uint8Array> = [
      "",
      "{",
      good.slice(0, good.length / 2),
      "null",
      "[]",
      JSON.stringify(record(LATER)),
      JSON.stringify({ version: "", record: record(LATER) }),
      JSON.stringify({ version: 7, record: record(LATER) }),
      JSON.stringify({ version: "v", record: { ...record(LATER), data: [] } }),
      new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
      // Invalid UTF-8 inside a string: not read back as a changed value.
      new Uint8Array([
        ...new TextEncoder().encode(good.slice(0, 40)),
        0xc3,
        ...new TextEncoder().encode(good.slice(40)),
      ]),
    ];
    for (const content of corrupt) {
      if (typeof content === "string") await Deno.writeTextFile(path, content);
      else await Deno.writeFile(path, content);
      assert.equal(await store.get(key), null, String(content));
      assert.equal(await exists(path), false, String(content));
    }
    // The same file read as a record when whole.
    await Deno.writeTextFile(path, good);
    assert.deepEqual(await store.get(key), {
      record: record(LATER),
      version: "v1",
    });
    // A corrupt file does not block a new session under its key.
    await Deno.writeTextFile(path, "{");
    assert.equal(
      typeof await store.set(key, record(LATER), { version: null }),
      "string",
    );
  });
});

Deno.test("FileStore: a request whose record file is corrupt gets a new session", async () => {
  await inTempDir(async (dir) => {
    const store = new FileStore(dir, { sweepInterval: 0 });
    const handler = withSession(probe, { store });
    const first = await handler(
      new Request("http://localhost/"),
      {} as Deno.ServeHandlerInfo<Deno.NetAddr>,
    );
    await first.body?.cancel();
    const cookie = sessionCookie(first);
    const [file] = await names(dir);
    const text = await Deno.readTextFile(`${dir}/${file}`);
    await Deno.writeTextFile(`${dir}/${file}`, text.slice(0, 30));
    const second = await handler(
      new Request("http://localhost/", {
        headers: { cookie: `sessionid=${cookie}` },
      }),
      {} as Deno.ServeHandlerInfo<Deno.NetAddr>,
    );
    assert.equal(second.status, 200);
    assert.deepEqual(await second.json(), { isNew: true, data: {} });
    assert.notEqual(sessionCookie(second), cookie);
    assert.equal(await exists(`${dir}/${file}`), false);
  });
});

Deno.test("FileStore: every write gets a new version, even of the same record", async () => {
  await inTempDir(async (dir) => {
    const store = new FileStore(dir, { sweepInterval: 0 });
    const other = new FileStore(dir, { sweepInterval: 0 });
    const key = newKey();
    const seen = new Set<string>();
    let version = await store.set(key, record(LATER), { version: null });
    for (let i = 0; i < 20; i++) {
      assert.ok(version !== null && !seen.has(version));
      seen.add(version);
      const writer = i % 2 === 0 ? other : store;
      version = await writer.set(key, record(LATER), { version });
    }
  });
});

Deno.test("FileStore: two stores on one directory never lose an update", async (t) => {
  await inTempDir(async (dir) => {
    const a = new FileStore(dir, { sweepInterval: 0 });
    const b = new FileStore(dir, { sweepInterval: 0 });

    await t.step("of concurrent writes on one version, one wins", async () => {
      for (let round = 0; round < 20; round++) {
        const key = newKey();
        const v1 = await a.set(key, record(LATER), { version: null });
        const writers = Array.from(
          { length: 6 },
          (_, i) => record(LATER, { n: i }),
        );
        const results = await Promise.all(
          writers.map((r, i) => (i % 2 ? a : b).set(key, r, { version: v1 })),
        );
        const winners = results.flatMap((v, i) => (v === null ? [] : [i]));
        assert.equal(winners.length, 1, `round ${round}: ${winners.length}`);
        assert.deepEqual(await b.get(key), {
          record: writers[winners[0]],
          version: results[winners[0]],
        });
      }
    });

    await t.step(
      "a delete and a write on one version: no resurrection",
      async () => {
        for (let round = 0; round < 40; round++) {
          const key = newKey();
          const v1 = await a.set(key, record(LATER), { version: null });
          const writing = b.set(key, record(LATER, { n: 2 }), {
            version: v1,
          });
          // Start the delete a little later each round, so that some land
          // while the write is between its check and its rename.
          for (let hop = 0; hop < round % 20; hop++) await Deno.stat(dir);
          await Promise.all([a.delete(key), writing]);
          assert.equal(await a.get(key), null, `round ${round}`);
        }
      },
    );

    await t.step(
      "a rotation and a write on one version: one wins",
      async () => {
        for (let round = 0; round < 20; round++) {
          const oldKey = newKey();
          const newKey_ = newKey();
          const v1 = await a.set(oldKey, record(LATER), { version: null });
          const [rotated, updated] = await Promise.all([
            a.set(newKey_, record(LATER, { n: 2 }), {
              version: v1,
              replaces: oldKey,
            }),
            b.set(oldKey, record(LATER, { n: 3 }), { version: v1 }),
          ]);
          assert.ok(
            (rotated === null) !== (updated === null),
            `round ${round}`,
          );
          if (rotated !== null) {
            assert.equal(await b.get(oldKey), null);
            assert.equal((await b.get(newKey_))?.version, rotated);
          } else {
            assert.equal(await b.get(newKey_), null);
            assert.equal((await b.get(oldKey))?.version, updated);
          }
        }
      },
    );

    const left = (await names(dir)).filter((n) => !/^[0-9a-f]{64}$/.test(n));
    assert.deepEqual(left, [], "no lock or temporary file is left");
  });
});

async function holdLock(path: string): Promise<Deno.FsFile> {
  const file = await Deno.open(path, { read: true, write: true, create: true });
  assert.ok(await file.tryLock(true));
  return file;
}

Deno.test("FileStore: a write waits for a lock another holder has, then proceeds", async () => {
  await inTempDir(async (dir) => {
    const store = new FileStore(dir, { sweepInterval: 0 });
    const key = newKey();
    const lock = await holdLock(`${dir}/${key}.lock`);
    const writing = store.set(key, record(LATER), { version: null });
    try {
      assert.ok(await stillPending(writing, 200), "wrote past a held lock");
      assert.equal(await exists(`${dir}/${key}`), false);
    } finally {
      lock.close();
    }
    assert.equal(typeof await writing, "string");
    assert.equal(await exists(`${dir}/${key}.lock`), false);
  });
});

Deno.test("FileStore: a write gives up after lockTimeout, writing nothing", async () => {
  await inTempDir(async (dir) => {
    const store = new FileStore(dir, { sweepInterval: 0, lockTimeout: 0.2 });
    const key = newKey();
    const lock = await holdLock(`${dir}/${key}.lock`);
    try {
      await assert.rejects(
        store.set(key, record(LATER), { version: null }),
        /gave up after 0\.2 s waiting for another process/,
      );
    } finally {
      lock.close();
    }
    assert.equal(await store.get(key), null);
  });
});

Deno.test("FileStore: the lock of a killed process is free at once; its lock file is taken over", async () => {
  await inTempDir(async (dir) => {
    const store = new FileStore(dir, { sweepInterval: 0 });
    const key = newKey();
    const lockPath = `${dir}/${key}.lock`;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `const file = await Deno.open(${
          JSON.stringify(lockPath)
        }, { read: true, write: true, create: true });
         if (!(await file.tryLock(true))) Deno.exit(3);
         console.log("locked");
         await new Promise((resolve) => setTimeout(resolve, 60_000));`,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.getReader();
    let writing: Promise<string | null> | undefined;
    try {
      const { value } = await reader.read();
      assert.match(new TextDecoder().decode(value), /locked/);
      writing = store.set(key, record(LATER), { version: null });
      assert.ok(await stillPending(writing, 200), "wrote past a held lock");
    } finally {
      child.kill("SIGKILL");
      await child.status;
      await reader.cancel();
    }
    // The killed process left its lock file behind, unlocked.
    assert.equal(typeof await writing, "string");
    assert.equal(await exists(lockPath), false);
    assert.notEqual(await store.get(key), null);
  });
});

Deno.test("FileStore: a temporary file is never read as the record", async () => {
  await inTempDir(async (dir) => {
    const store = new FileStore(dir, { sweepInterval: 0 });
    const key = newKey();
    const version = await store.set(key, record(LATER), { version: null });
    // What a crash between the write and the rename leaves.
    await Deno.writeTextFile(`${dir}/${key}.0123456789abcdef.tmp`, '{"vers');
    assert.equal((await store.get(key))?.version, version);
    assert.equal(await store.get(newKey()), null);
  });
});

Deno.test("FileStore.clearExpired removes expired and corrupt records, and old leftovers", async () => {
  await inTempDir(async (dir) => {
    let now = 1_000_000;
    const store = new FileStore(dir, { sweepInterval: 0, now: () => now });
    const [soon, later, broken] = [newKey(), newKey(), newKey()];
    await store.set(soon, record(now + 1_000), { version: null });
    await store.set(later, record(now + 60_000), { version: null });
    await Deno.writeTextFile(`${dir}/${broken}`, "{");
    assert.equal(await store.clearExpired(), 1); // the corrupt one
    now += 1_000;
    // Left by a crash: a temporary file and a lock file, an hour old; and
    // one of each just made (a write may be in progress).
    const oldTemp = `${newKey()}.0123456789abcdef.tmp`;
    const oldLock = `${newKey()}.lock`;
    const newTemp = `${newKey()}.fedcba9876543210.tmp`;
    const newLock = `${newKey()}.lock`;
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const name of [oldTemp, oldLock, newTemp, newLock]) {
      await Deno.writeTextFile(`${dir}/${name}`, "x");
    }
    for (const name of [oldTemp, oldLock]) {
      await Deno.utime(`${dir}/${name}`, hourAgo, hourAgo);
    }
    // Files the store does not make are left alone, however old.
    const foreign = ["notes.txt", `${newKey()}.bak`, "ABCDEF"];
    for (const name of foreign) {
      await Deno.writeTextFile(`${dir}/${name}`, "{");
      await Deno.utime(`${dir}/${name}`, hourAgo, hourAgo);
    }
    // A directory under a record's name is left too, and reported.
    const folder = newKey();
    await Deno.mkdir(`${dir}/${folder}`);
    const skipped: string[] = [];
    const onSkip = (name: string) => skipped.push(name);
    assert.equal(await store.clearExpired({ onSkip }), 1);
    assert.deepEqual(skipped, [folder]);
    assert.equal(await store.get(soon), null);
    assert.notEqual(await store.get(later), null);
    const left = await names(dir);
    assert.ok(!left.includes(oldTemp) && !left.includes(oldLock));
    assert.ok(left.includes(newTemp) && left.includes(newLock));
    for (const name of [...foreign, folder]) {
      assert.ok(left.includes(name), name);
    }
    assert.equal(await store.clearExpired({ onSkip }), 0);
  });
});

Deno.test("FileStore.clearExpired keeps a session refreshed while it waited for the lock", async () => {
  await inTempDir(async (dir) => {
    const store = new FileStore(dir, { sweepInterval: 0 });
    const key = newKey();
    await store.set(key, record(Date.now() - 1), { version: null });
    const lock = await holdLock(`${dir}/${key}.lock`);
    const clearing = store.clearExpired();
    try {
      // As the lock's holder, refresh the record.
      const refreshed = JSON.stringify({
        version: "v2",
        record: record(LATER),
      });
      await Deno.writeTextFile(`${dir}/${key}.0123456789abcdef.tmp`, refreshed);
      await Deno.rename(`${dir}/${key}.0123456789abcdef.tmp`, `${dir}/${key}`);
    } finally {
      await Deno.remove(`${dir}/${key}.lock`);
      lock.close();
    }
    assert.equal(await clearing, 0);
    assert.equal((await store.get(key))?.version, "v2");
  });
});

Deno.test("FileStore sweeps on its timer, which close() stops", async () => {
  await inTempDir(async (dir) => {
    const store = new FileStore(dir, { sweepInterval: 0.02 });
    const [gone, kept] = [newKey(), newKey()];
    await store.set(gone, record(Date.now() - 1), { version: null });
    await store.set(kept, record(LATER), { version: null });
    for (let i = 0; i < 250 && await exists(`${dir}/${gone}`); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await store.close();
    assert.deepEqual(await names(dir), [kept]);
    // The sanitizer fails this test if the interval or a sweep outlived close().
  });
});

Deno.test("FileStore's sweep timer does not keep the process alive", async () => {
  await inTempDir(async (dir) => {
    const script = `
      import { FileStore } from ${
      JSON.stringify(new URL("../mod.ts", import.meta.url).href)
    };
      const store = new FileStore(${
      JSON.stringify(dir)
    }, { sweepInterval: 3600 });
      await store.set(${
      JSON.stringify(newKey())
    }, { data: {}, createdAt: 0, lastActiveAt: 0, absoluteExpiresAt: 1, expiresAt: 1, browserSession: false }, { version: null });
      console.log("done");
    `;
    assert.equal(await evalScript(script), "done");
  });
});

Deno.test({
  name: "FileStore creates files 0600, and its directory 0700",
  ignore: !POSIX,
  fn: async () => {
    await inTempDir(async (parent) => {
      const dir = `${parent}/a/b`;
      const store = new FileStore(dir, { sweepInterval: 0 });
      assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
      const key = newKey();
      const v1 = await store.set(key, record(LATER), { version: null });
      assert.equal((await Deno.stat(`${dir}/${key}`)).mode! & 0o777, 0o600);
      const rotated = newKey();
      await store.set(rotated, record(LATER), { version: v1, replaces: key });
      assert.equal((await Deno.stat(`${dir}/${rotated}`)).mode! & 0o777, 0o600);
      // A directory that exists is used as it is.
      await Deno.chmod(parent, 0o755);
      new FileStore(parent, { sweepInterval: 0 });
      assert.equal((await Deno.stat(parent)).mode! & 0o777, 0o755);
    });
  },
});

Deno.test("FileStore's constructor says when the directory is unusable", async () => {
  await inTempDir(async (parent) => {
    const file = `${parent}/file`;
    await Deno.writeTextFile(file, "");
    assert.throws(
      () => new FileStore(file),
      (error: Error) =>
        error.message ===
          `FileStore: the session directory ${file} is not a directory`,
    );
    assert.throws(
      () => new FileStore(`${file}/sessions`),
      (error: Error) =>
        error.message.startsWith(
          `FileStore: cannot use the session directory ${file}/sessions: `,
        ) && error.cause instanceof Error,
    );
  });
});

Deno.test("FileStore rejects invalid options", () => {
  assert.throws(() => new FileStore(""), TypeError);
  const dir = "./never-created";
  assert.throws(() => new FileStore(dir, { sweepInterval: -1 }), TypeError);
  assert.throws(() => new FileStore(dir, { sweepInterval: NaN }), TypeError);
  assert.throws(() => new FileStore(dir, { lockTimeout: 0 }), TypeError);
  assert.throws(() => new FileStore(dir, { lockTimeout: Infinity }), TypeError);
  assert.throws(
    () => new FileStore(dir, { now: 5 as unknown as () => number }),
    TypeError,
  );
  assert.throws(() => Deno.statSync(dir), Deno.errors.NotFound);
});

Deno.test("FileStore: a lock held past lockTimeout fails neither a read nor a sweep", async () => {
  await inTempDir(async (dir) => {
    const store = new FileStore(dir, { sweepInterval: 0, lockTimeout: 0.1 });
    const [corrupt, expired] = [newKey(), newKey()];
    await Deno.writeTextFile(`${dir}/${corrupt}`, "{");
    await store.set(expired, record(Date.now() - 1), { version: null });
    const locks = [
      await holdLock(`${dir}/${corrupt}.lock`),
      await holdLock(`${dir}/${expired}.lock`),
    ];
    const skipped: Array<[string, string]> = [];
    const onSkip = (name: string, error: Error) =>
      skipped.push([name, error.message]);
    try {
      assert.equal(await store.get(corrupt), null);
      assert.equal(await store.clearExpired({ onSkip }), 0);
    } finally {
      for (const lock of locks) lock.close();
    }
    assert.deepEqual(
      skipped.map(([name]) => name).sort(),
      [corrupt, expired].sort(),
    );
    for (const [, message] of skipped) {
      assert.match(message, /gave up after 0\.1 s/);
    }
    // Left for the next sweep.
    skipped.length = 0;
    assert.equal(await store.clearExpired({ onSkip }), 2);
    assert.deepEqual(skipped, []);
    assert.deepEqual(
      (await names(dir)).filter((name) => !name.endsWith(".lock")),
      [],
    );
  });
});

/** Makes a FIFO (a named pipe) at `path`. */
async function mkfifo(path: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("mkfifo", {
    args: [path],
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
}

/**
 * Whether `promise` settles within `ms` beside the writer-less FIFO at
 * `fifo`. If not, a read is stuck opening the FIFO: its readers are let go
 * (by opening it for writing, and closing it) until the promise settles, so
 * that the test fails instead of hanging.
 */
async function settlesBesideFifo(
  promise: Promise<unknown>,
  fifo: string,
  ms = 2_000,
): Promise<boolean> {
  if (!(await stillPending(promise, ms))) return true;
  for (let i = 0; i < 500 && await stillPending(promise, 10); i++) {
    try {
      closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // No reader has the FIFO open yet (ENXIO): try again.
    }
  }
  return false;
}

Deno.test({
  name:
    "FileStore: a record that is a symlink is never followed out of the directory",
  ignore: !POSIX,
  fn: async (t) => {
    await inTempDir(async (parent) => {
      const dir = `${parent}/store`;
      const store = new FileStore(dir, { sweepInterval: 0 });
      const outside = `${parent}/outside`;
      const text = JSON.stringify({
        version: "outside",
        record: record(LATER),
      });
      await Deno.writeTextFile(outside, text);

      await t.step(
        "a read finds no session, and removes the link",
        async () => {
          const key = newKey();
          await Deno.symlink(outside, `${dir}/${key}`);
          assert.equal(await store.get(key), null);
          assert.equal(await exists(`${dir}/${key}`), false);
          assert.equal(await Deno.readTextFile(outside), text);
          // A dangling link too.
          await Deno.symlink(`${parent}/nowhere`, `${dir}/${key}`);
          assert.equal(await store.get(key), null);
          assert.equal(await exists(`${dir}/${key}`), false);
        },
      );

      await t.step("a write replaces the link, not its target", async () => {
        const key = newKey();
        await Deno.symlink(outside, `${dir}/${key}`);
        const version = await store.set(key, record(LATER), { version: null });
        assert.equal(typeof version, "string");
        assert.equal((await Deno.lstat(`${dir}/${key}`)).isFile, true);
        assert.equal((await store.get(key))?.version, version);
        assert.equal(await Deno.readTextFile(outside), text);
      });

      await t.step("the sweep removes the link, not its target", async () => {
        const key = newKey();
        const expired = `${parent}/expired`;
        await Deno.writeTextFile(
          expired,
          JSON.stringify({ version: "x", record: record(Date.now() - 1) }),
        );
        await Deno.symlink(expired, `${dir}/${key}`);
        assert.equal(await store.clearExpired(), 1);
        assert.equal(await exists(`${dir}/${key}`), false);
        assert.equal(await exists(expired), true);
      });
    });
  },
});

Deno.test({
  name:
    "FileStore: special files named like a record never block or fail a read",
  ignore: !POSIX,
  fn: async (t) => {
    await inTempDir(async (dir) => {
      const store = new FileStore(dir, { sweepInterval: 0 });

      await t.step("a FIFO reads as no session, and is removed", async () => {
        const key = newKey();
        const fifo = `${dir}/${key}`;
        await mkfifo(fifo);
        const reading = store.get(key);
        assert.ok(await settlesBesideFifo(reading, fifo), "get hung on a FIFO");
        assert.equal(await reading, null);
        assert.equal(await exists(fifo), false);
      });

      await t.step("the sweep removes a FIFO without blocking", async () => {
        const key = newKey();
        const fifo = `${dir}/${key}`;
        await mkfifo(fifo);
        const clearing = store.clearExpired();
        assert.ok(
          await settlesBesideFifo(clearing, fifo),
          "the sweep hung on a FIFO",
        );
        assert.equal(await clearing, 1);
        assert.equal(await exists(fifo), false);
      });

      await t.step("a socket reads as no session, and is removed", async () => {
        const key = newKey();
        const socket = `${dir}/${key}`;
        // What a process that died listening leaves (Deno.exit skips the
        // unlink that closing the listener does); a child, since listening
        // on a Unix socket needs --allow-net.
        await evalScript(
          `Deno.listen({ transport: "unix", path: ${
            JSON.stringify(socket)
          } }); Deno.exit(0);`,
        );
        assert.equal((await Deno.lstat(socket)).isSocket, true);
        assert.equal(await store.get(key), null);
        assert.equal(await exists(socket), false);
      });

      await t.step("a directory reads as no session, and is left", async () => {
        const key = newKey();
        await Deno.mkdir(`${dir}/${key}`);
        assert.equal(await store.get(key), null);
        assert.equal((await Deno.lstat(`${dir}/${key}`)).isDirectory, true);
        await assert.rejects(
          store.set(key, record(LATER), { version: null }),
          (error: Error) =>
            error.message ===
              `FileStore: ${dir}/${key} is a directory, not a session file`,
        );
      });
    });
  },
});

Deno.test({
  name:
    "FileStore: a .lock symlink never creates or opens a file outside the directory",
  ignore: !POSIX,
  fn: async () => {
    await inTempDir(async (parent) => {
      const dir = `${parent}/store`;
      // A store that locked through the link would wait on the test's lock.
      const store = new FileStore(dir, { sweepInterval: 0, lockTimeout: 1 });
      const [written, deleted, present] = [newKey(), newKey(), newKey()];
      const created = `${parent}/created`;
      await Deno.symlink(created, `${dir}/${written}.lock`);
      await Deno.symlink(created, `${dir}/${deleted}.lock`);
      const version = await store.set(written, record(LATER), {
        version: null,
      });
      assert.equal((await store.get(written))?.version, version);
      await store.delete(deleted);
      assert.equal(await exists(created), false, "created outside");
      // An existing file outside is neither written nor locked through one.
      const target = await Deno.open(`${parent}/target`, {
        read: true,
        write: true,
        create: true,
      });
      try {
        assert.ok(await target.tryLock(true));
        await Deno.symlink(`${parent}/target`, `${dir}/${present}.lock`);
        await store.set(present, record(LATER), { version: null });
        assert.equal(await Deno.readTextFile(`${parent}/target`), "");
      } finally {
        target.close();
      }
      assert.deepEqual(await names(dir), [present, written].sort());
      assert.deepEqual(await names(parent), ["store", "target"]);
    });
  },
});

Deno.test("FileStore: a directory named like a lock fails its session's writes clearly", async () => {
  await inTempDir(async (dir) => {
    const store = new FileStore(dir, { sweepInterval: 0 });
    const key = newKey();
    await Deno.mkdir(`${dir}/${key}.lock`);
    const clear = (error: Error) =>
      error.message ===
        `FileStore: ${dir}/${key}.lock is a directory, not a lock file`;
    await assert.rejects(
      store.set(key, record(LATER), { version: null }),
      clear,
    );
    await assert.rejects(store.delete(key), clear);
    assert.deepEqual(await names(dir), [`${key}.lock`]);
  });
});

Deno.test("FileStore: a missing directory is an error, not a missing session", async (t) => {
  await inTempDir(async (parent) => {
    const dir = `${parent}/store`;
    const store = new FileStore(dir, { sweepInterval: 0 });
    const key = newKey();
    const version = await store.set(key, record(LATER), { version: null });

    await t.step("deleted", async () => {
      await Deno.remove(dir, { recursive: true });
      const gone = (error: Error) =>
        error.message.startsWith(
          `FileStore: the session directory ${dir} is missing: `,
        ) && error.cause instanceof Deno.errors.NotFound;
      await assert.rejects(store.get(key), gone);
      await assert.rejects(store.get(newKey()), gone);
      await assert.rejects(
        store.set(key, record(LATER), { version }),
        gone,
      );
      await assert.rejects(store.delete(key), gone);
      await assert.rejects(store.clearExpired(), Deno.errors.NotFound);
    });

    await t.step("replaced by a file", async () => {
      await Deno.writeTextFile(dir, "");
      const replaced = (error: Error) =>
        error.message ===
          `FileStore: the session directory ${dir} is not a directory`;
      await assert.rejects(store.get(key), replaced);
      await assert.rejects(
        store.set(key, record(LATER), { version: null }),
        replaced,
      );
    });
  });
});

Deno.test({
  name:
    "FileStore's constructor fails on a directory it cannot create files in",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    // sysfs refuses to create files even for root. Deno lets only
    // --allow-all near /sys, hence a child.
    const dir = "/sys/kernel";
    const script = `
      import { FileStore } from ${
      JSON.stringify(new URL("../mod.ts", import.meta.url).href)
    };
      try {
        new FileStore(${JSON.stringify(dir)});
        console.log(JSON.stringify(["opened", false]));
      } catch (error) {
        console.log(JSON.stringify([error.message, error.cause instanceof Error]));
      }`;
    const [message, hasCause] = JSON.parse(await evalScript(script));
    assert.ok(
      message.startsWith(
        `FileStore: cannot write in the session directory ${dir}: `,
      ),
      message,
    );
    assert.equal(hasCause, true);
  },
});

Deno.test("FileStore's constructor fails without write permission on the directory", async () => {
  await inTempDir(async (dir) => {
    const script = `${dir}/open.ts`;
    await Deno.writeTextFile(
      script,
      `import { FileStore } from ${
        JSON.stringify(new URL("../mod.ts", import.meta.url).href)
      };
      try {
        new FileStore(${JSON.stringify(dir)});
        console.log("opened");
      } catch (error) {
        console.log(error.message);
      }`,
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", `--allow-read=${dir}`, script],
      stdout: "piped",
      stderr: "inherit",
      env: { NO_COLOR: "1" },
    }).output();
    assert.equal(output.code, 0);
    assert.match(
      new TextDecoder().decode(output.stdout),
      new RegExp(
        `^FileStore: cannot write in the session directory ${dir}: .*write access`,
      ),
    );
    assert.deepEqual(await names(dir), ["open.ts"]);
  });
});

Deno.test("FileStore.clearExpired skips and reports what it cannot sweep, and sweeps the rest", async () => {
  await inTempDir(async (dir) => {
    const store = new FileStore(dir, { sweepInterval: 0 });
    const expired = Array.from({ length: 300 }, newKey);
    for (const key of expired) {
      await store.set(key, record(Date.now() - 1), { version: null });
    }
    // A directory where the first session's lock goes, and a non-empty one
    // named like a record.
    const [locked, folder] = [expired[0], newKey()];
    await Deno.mkdir(`${dir}/${locked}.lock`);
    await Deno.mkdir(`${dir}/${folder}`);
    await Deno.writeTextFile(`${dir}/${folder}/x`, "");
    const skipped: Array<[string, string]> = [];
    const removed = await store.clearExpired({
      onSkip: (name, error) => skipped.push([name, error.message]),
    });
    assert.equal(removed, 299);
    assert.deepEqual(
      skipped.sort(),
      [
        [
          locked,
          `FileStore: ${dir}/${locked}.lock is a directory, not a lock file`,
        ],
        [
          `${locked}.lock`,
          `FileStore: ${dir}/${locked}.lock is a directory, not a lock file`,
        ],
        [
          folder,
          `FileStore: ${dir}/${folder} is a directory, not a session file`,
        ],
      ].sort(),
    );
    assert.deepEqual(
      await names(dir),
      [locked, `${locked}.lock`, folder].sort(),
    );
    // A report that fails stops the sweep, which rejects with its error.
    const stop = new Error("stop");
    await assert.rejects(
      store.clearExpired({
        onSkip: () => {
          throw stop;
        },
      }),
      (error) => error === stop,
    );
  });
});

Deno.test("FileStore: the sweep removes the filings a crash or an expiry left behind", async () => {
  await inTempDir(async (dir) => {
    await using store = new FileStore(dir, { sweepInterval: 0 });
    const live = newKey(), expired = newKey(), orphan = newKey();
    const user = (expiresAt: number) => ({ ...record(expiresAt), user: "ram" });
    await store.set(live, user(LATER), { version: null });
    await store.set(expired, user(Date.now() - 1), { version: null });
    // As if a crash came between the filing and the record's write.
    const userDir =
      (await Array.fromAsync(Deno.readDir(`${dir}/users`)))[0].name;
    await Deno.writeFile(`${dir}/users/${userDir}/${orphan}`, new Uint8Array());
    assert.equal(
      (await store.listUser("ram")).length,
      2,
      "the orphan reads as nothing",
    );
    assert.equal(await store.clearExpired(), 1);
    assert.deepEqual(
      await names(`${dir}/users/${userDir}`),
      [live],
    );
    assert.deepEqual((await store.listUser("ram")).map((e) => e.key), [live]);
  });
});

Deno.test("FileStore refuses a session over maxSessionBytes before writing anything", async () => {
  await inTempDir(async (dir) => {
    await using store = new FileStore(dir, {
      sweepInterval: 0,
      maxSessionBytes: 400,
    });
    const key = newKey();
    const version = await store.set(key, record(LATER), { version: null });
    await assert.rejects(
      store.set(key, { ...record(LATER), data: { note: "x".repeat(400) } }, {
        version,
      }),
      (error: Error) =>
        error instanceof SessionTooLargeError &&
        /^FileStore: the session is \d+ bytes, over its limit of 400 bytes; largest keys: "note" \(402 bytes\)$/
          .test(error.message),
    );
    assert.deepEqual(await store.get(key), { record: record(LATER), version });
    assert.throws(() => new FileStore(dir, { maxSessionBytes: 0 }), TypeError);
  });
});
