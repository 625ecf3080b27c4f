/**
 * A store of one file per session in a directory: Django's file backend,
 * with atomic writes and locking so that several processes can share it.
 *
 * @module
 */

import { constants, readFile } from "node:fs";
import { sha256Hex } from "../hmac.ts";
import {
  checkStoreKey,
  DEFAULT_MAX_SESSION_BYTES,
  isRecord,
  SessionTooLargeError,
  STORE_KEY,
  wholeCount,
} from "../record.ts";
import type {
  SessionRecord,
  SessionStore,
  StoredSession,
  UserIndex,
  UserSessionEntry,
  WriteCondition,
} from "../store.ts";

/**
 * Options for {@linkcode FileStore}.
 *
 * @example Sweep every ten minutes; wait at most 5 s for a lock
 * ```ts
 * import { FileStore, type FileStoreOptions } from "@denokit/session";
 *
 * const options: FileStoreOptions = { sweepInterval: 600, lockTimeout: 5 };
 * const dir = await Deno.makeTempDir(); // e.g. "./sessions"
 * {
 *   await using store = new FileStore(dir, options);
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface FileStoreOptions {
  /**
   * Seconds between sweeps that remove expired records (and what a crash
   * left behind); 0 turns the sweep off. The timer starts with the first
   * write, never keeps the process alive, and stops with
   * {@linkcode FileStore.close}. Default 3600: a sweep reads every file.
   * Each entry a sweep cannot sweep is named on `console.error` and left.
   */
  sweepInterval?: number;
  /**
   * Seconds a write waits for another process to release a session's lock
   * before it rejects. Default 10.
   */
  lockTimeout?: number;
  /**
   * The most bytes of one session's file: a larger session is refused with
   * a `SessionTooLargeError` before anything is written. Default 65,536,
   * Deno KV's limit, so that an app moves between stores unchanged.
   */
  maxSessionBytes?: number;
  /** Clock in epoch milliseconds for expiry. Default `Date.now`. */
  now?: () => number;
}

/**
 * Options for {@linkcode FileStore.clearExpired}.
 *
 * @example Count what a sweep left in place
 * ```ts
 * import { FileStore } from "@denokit/session";
 *
 * const dir = await Deno.makeTempDir(); // e.g. "./sessions"
 * {
 *   await using store = new FileStore(dir);
 *   const skipped: string[] = [];
 *   const removed = await store.clearExpired({
 *     onSkip: (name, error) => skipped.push(`${name}: ${error.message}`),
 *   });
 *   console.log(`removed ${removed}, skipped ${skipped.length}`);
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface ClearExpiredOptions {
  /**
   * Called for each entry the sweep leaves in place because it cannot sweep
   * it, with the entry's name in the directory and why: a record it cannot
   * read, or whose lock it cannot take (held past `lockTimeout`, or a
   * directory under the lock's name); a directory under a name the store
   * uses. The sweep goes on with the other entries. Default: a line on
   * `console.error`. If it throws, the sweep stops and rejects with that.
   */
  onSkip?: (name: string, error: Error) => void;
}

/** The subdirectory of the users' filings. */
const USERS = "users";
const LOCK = /^([0-9a-f]{64})\.lock$/;
const TEMP = /^([0-9a-f]{64})\.[0-9a-f]{16}\.tmp$/;
/**
 * How old a lock or temporary file must be before the sweep looks at it. It
 * removes them under the session's lock, so age is only a filter that keeps
 * it from queueing behind writes in progress.
 */
const LEFTOVER_AGE_MS = 60_000;
/** How many files the sweep works on at once. */
const SWEEP_BATCH = 64;
/**
 * An entry under a record's name that is no record, and that the store
 * removes: a file that does not parse as one, a symlink, a FIFO, a socket.
 */
const CORRUPT = Symbol("corrupt");
/** A directory under a record's name: no record; reads and the sweep leave it. */
const DIRECTORY = Symbol("directory");

/**
 * How a record is opened once its entry was found to be a regular file, so
 * that what may be swapped in meanwhile cannot hang the read: a FIFO opens
 * at once (O_NONBLOCK) and reads as empty. O_NOFOLLOW also refuses a symlink,
 * but only under `--allow-all`: short of it, Deno opens the path it
 * canonicalized for its permission check, which follows a symlink
 * (denoland/deno#28716); looking first is what refuses one. `Deno.open`
 * takes neither flag; `node:fs` does.
 */
const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) |
  (constants.O_NONBLOCK ?? 0);
/**
 * What opening or reading a record with READ_FLAGS fails with when the entry
 * has become something other than a regular file: a symlink (ELOOP; EMLINK
 * on FreeBSD), a socket (ENXIO), a FIFO that has a writer but no data
 * (EAGAIN). A FIFO without a writer reads as empty, which does not parse.
 */
const NOT_A_FILE = new Set(["ELOOP", "EMLINK", "ENXIO", "EAGAIN"]);

/** What an entry is, from lstat or from listing the directory. */
type EntryType = Pick<Deno.FileInfo, "isFile" | "isDirectory">;

/** The session directory is gone, or is no longer a directory. */
class DirectoryError extends Error {}

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

function randomHex(bytes: number): string {
  const values = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(values, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A record file's bytes: the version and the record, as JSON. */
function encodeFile(version: string, record: SessionRecord): Uint8Array {
  return encoder.encode(JSON.stringify({ version, record }));
}

/**
 * The bytes of the file at `path`, opened with READ_FLAGS. The callback
 * `readFile` costs about what `Deno.readFile` does, the promise one (open,
 * then read and close through a FileHandle) about twice that. Its types
 * accept only a string flag; it takes the numeric flags `open` takes.
 */
function readRecordFile(path: string): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    readFile(
      path,
      { flag: READ_FLAGS as unknown as string },
      (error, bytes) => error === null ? resolve(bytes) : reject(error),
    );
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The `code` of a `node:fs` error ("ENOENT"...). */
function errorCode(error: unknown): unknown {
  return typeof error === "object" && error !== null && "code" in error
    ? error.code
    : undefined;
}

/** The error for a directory where the store expects a file of its own. */
function aDirectory(path: string, expected: string): Error {
  return new Error(`FileStore: ${path} is a directory, not a ${expected}`);
}

function checkKey(key: unknown): string {
  return checkStoreKey("FileStore", key);
}

function seconds(name: string, value: number, allowZero: boolean): number {
  if (
    typeof value !== "number" || !Number.isFinite(value) || value < 0 ||
    (value === 0 && !allowZero)
  ) {
    throw new TypeError(
      `FileStore: ${name} must be a finite number of seconds ${
        allowZero ? ">= 0" : "> 0"
      }, got ${String(value)}`,
    );
  }
  return value * 1000;
}

async function removeIfPresent(path: string): Promise<boolean> {
  try {
    await Deno.remove(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function lstatIfPresent(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * Whether the open `file` is a regular file still named `path`: not
 * unlinked, not replaced, not reached through a symlink swapped in.
 */
async function isNamed(file: Deno.FsFile, path: string): Promise<boolean> {
  const [held, named] = await Promise.all([file.stat(), lstatIfPresent(path)]);
  if (named === null || !held.isFile) return false;
  // Without inode numbers (not seen on Linux, macOS or Windows) trust the name.
  if (held.ino === null || named.ino === null) return named.isFile;
  return held.ino === named.ino && held.dev === named.dev;
}

/**
 * Sessions as files in one directory, for servers without a database, and
 * for several processes on one host sharing sessions.
 *
 * - Each session is one file named by its store key (the SHA-256 hex digest
 *   of the id), so no cookie can choose a path; any other key is refused
 *   before the disk is touched.
 * - A write goes to a temporary file in the same directory, flushed to disk,
 *   then renamed over the record: a reader sees the old record or the new,
 *   never part of one. A file that does not parse as a record reads as no
 *   session and is removed.
 * - What is under a record's name is looked at before it is opened: a
 *   symlink, FIFO or socket is never opened, reads as no session and is
 *   removed (a symlink's target is never touched); a directory reads as no
 *   session and is left alone, and a write to its name fails.
 * - Writes and deletes hold the session's lock: an exclusive `flock` on
 *   `<key>.lock`, which the kernel releases if the process dies, so a crash
 *   leaves no lock to wait out. The conditional write is checked under it,
 *   which makes the no-lost-update rule hold across processes. A lock file
 *   is never created or opened through a symlink: a symlink, FIFO or socket
 *   under its name is removed; a directory there fails the session's writes.
 * - Files are created with mode 0600; the directory, if the store creates
 *   it, with 0700.
 *
 * The directory is created in the constructor, synchronously, so that a bad
 * path fails when the server starts rather than on its first request. If it
 * disappears later (or is replaced by a file), every operation rejects with
 * an error that names it: a lost directory never reads as a missing
 * session. The store needs `--allow-read` and `--allow-write` for the
 * directory only.
 * Locks rely on `flock`: keep the directory on a local disk, or on a network
 * file system whose locks work between its clients.
 *
 * @example
 * ```ts
 * import { FileStore, withSession } from "@denokit/session";
 *
 * const dir = await Deno.makeTempDir(); // e.g. "./sessions"
 * {
 *   await using store = new FileStore(dir);
 *   const handler = withSession(() => new Response("ok"), { store });
 *   // Deno.serve(handler);
 *   // From cron: deno task clearsessions --dir ./sessions
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class FileStore implements SessionStore, UserIndex, AsyncDisposable {
  readonly #dir: string;
  readonly #sweepInterval: number;
  readonly #lockTimeout: number;
  readonly #maxSessionBytes: number;
  readonly #now: () => number;
  /** Per key, the end of the queue of this store's operations holding its lock. */
  readonly #queues = new Map<string, Promise<void>>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #sweeping: Promise<void> | null = null;
  #closed = false;

  /**
   * Opens the store on `dir`, creating the directory (mode 0700) if it is
   * missing, and checks that a file can be created and removed there. Throws
   * a TypeError for invalid options, and an Error naming the directory when
   * it cannot be created, is not a directory, or cannot be written in.
   */
  constructor(dir: string, options: FileStoreOptions = {}) {
    if (typeof dir !== "string" || dir === "") {
      throw new TypeError("FileStore: dir must be a non-empty path");
    }
    const {
      sweepInterval = 3600,
      lockTimeout = 10,
      maxSessionBytes = DEFAULT_MAX_SESSION_BYTES,
      now = Date.now,
    } = options;
    this.#sweepInterval = seconds("sweepInterval", sweepInterval, true);
    this.#lockTimeout = seconds("lockTimeout", lockTimeout, false);
    this.#maxSessionBytes = wholeCount(
      "FileStore",
      "maxSessionBytes",
      maxSessionBytes,
    );
    if (typeof now !== "function") {
      throw new TypeError("FileStore: now must be a function");
    }
    this.#now = now;
    this.#dir = dir.replace(/(?<=.)[/\\]+$/, "");
    let info: Deno.FileInfo;
    try {
      try {
        info = Deno.statSync(this.#dir);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        Deno.mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
        info = Deno.statSync(this.#dir);
      }
    } catch (error) {
      throw new Error(
        `FileStore: cannot use the session directory ${dir}: ${
          messageOf(error)
        }`,
        { cause: error },
      );
    }
    if (!info.isDirectory) {
      throw new Error(
        `FileStore: the session directory ${dir} is not a directory`,
      );
    }
    // Create and remove a file now, so that a directory the store cannot
    // write in fails here, naming itself, rather than the first save with a
    // bare PermissionDenied. It has a temporary file's name: if a crash
    // leaves it, the sweep removes it.
    const probe = this.#path(`${randomHex(32)}.${randomHex(8)}.tmp`);
    try {
      Deno.openSync(probe, { write: true, createNew: true, mode: 0o600 })
        .close();
      Deno.removeSync(probe);
    } catch (error) {
      throw new Error(
        `FileStore: cannot write in the session directory ${dir}: ${
          messageOf(error)
        }`,
        { cause: error },
      );
    }
  }

  /** The directory the store keeps its files in. */
  get dir(): string {
    return this.#dir;
  }

  /**
   * Reads a record; `null` if there is none, or if its file is corrupt or not
   * a regular file (it is then removed, unless it is a directory). Rejects
   * with a TypeError for a key that is not 64 lowercase hex characters, with
   * an Error naming the directory when it is missing, and with the error
   * when the file cannot be read.
   */
  async get(key: string): Promise<StoredSession | null> {
    checkKey(key);
    const found = await this.#read(key);
    if (found === DIRECTORY) return null;
    if (found !== CORRUPT) return found;
    try {
      return await this.#locked([key], async () => {
        const again = await this.#read(key);
        if (again === DIRECTORY) return null;
        if (again !== CORRUPT) return again;
        await removeIfPresent(this.#path(key));
        return null;
      });
    } catch (error) {
      if (error instanceof DirectoryError) throw error;
      // Not removed this time (the sweep will try again); still no session.
      return null;
    }
  }

  /**
   * Writes a record if the condition holds; see {@linkcode SessionStore.set}.
   * Rejects with a `SessionTooLargeError`, writing nothing, when the file
   * would be over `maxSessionBytes`.
   */
  async set(
    key: string,
    record: SessionRecord,
    condition: WriteCondition,
  ): Promise<string | null> {
    checkKey(key);
    const { replaces, forward } = condition;
    if (replaces !== undefined) checkKey(replaces);
    const version = randomHex(16);
    const bytes = encodeFile(version, record);
    if (bytes.length > this.#maxSessionBytes) {
      throw new SessionTooLargeError(
        "FileStore",
        record,
        bytes.length,
        this.#maxSessionBytes,
      );
    }
    const source = replaces ?? key;
    const written = await this.#locked(
      replaces === undefined ? [key] : [key, replaces],
      async () => {
        const current = await this.#current(source);
        if ((current?.version ?? null) !== condition.version) return false;
        if (replaces !== undefined && await this.#current(key) !== null) {
          return false;
        }
        // The filing is made before the record and undone after it, so
        // that a crash between the two leaves at worst an entry too many
        // (which listUser checks against the record, and the sweep removes),
        // never a session missing from its user's list.
        if (record.user !== undefined) await this.#file(record.user, key);
        await this.#writeAtomically(key, bytes);
        if (replaces !== undefined && replaces !== key) {
          if (forward === undefined) {
            await removeIfPresent(this.#path(replaces));
          } else {
            await this.#writeAtomically(
              replaces,
              encodeFile(randomHex(16), forward),
            );
          }
        }
        const filed = current?.record.user;
        if (filed !== undefined && (filed !== record.user || source !== key)) {
          await this.#unfile(filed, source);
        }
        return true;
      },
    );
    if (!written) return null;
    this.#startSweep();
    return version;
  }

  /** Deletes a record, and its filing; rejects with a TypeError for a malformed key. */
  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.#locked([key], async () => {
      const current = await this.#read(key);
      await removeIfPresent(this.#path(key));
      if (typeof current === "object" && current !== null) {
        const { user } = current.record;
        if (user !== undefined) await this.#unfile(user, key);
      }
    });
  }

  /**
   * The records filed under `user`: one empty file per session in
   * `users/<sha256 hex of the user>/` inside the directory; see
   * {@linkcode UserIndex.listUser}.
   */
  async listUser(user: string): Promise<UserSessionEntry[]> {
    const entries: UserSessionEntry[] = [];
    let names: string[];
    try {
      names = (await Array.fromAsync(Deno.readDir(this.#userDir(user))))
        .map((entry) => entry.name).filter((name) => STORE_KEY.test(name));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return entries;
      throw error;
    }
    for (const key of names) {
      const found = await this.#read(key);
      if (typeof found === "object" && found !== null) {
        entries.push({ key, stored: found });
      }
    }
    return entries;
  }

  /** The directory of `user`'s filing. */
  #userDir(user: string): string {
    return this.#path(`${USERS}/${sha256Hex(user)}`);
  }

  /** Files `key` under `user`. */
  async #file(user: string, key: string): Promise<void> {
    const dir = this.#userDir(user);
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.writeFile(`${dir}/${key}`, new Uint8Array(0), { mode: 0o600 });
  }

  /** Takes `key` out of `user`'s filing, and the filing away once empty. */
  async #unfile(user: string, key: string): Promise<void> {
    const dir = this.#userDir(user);
    await removeIfPresent(`${dir}/${key}`);
    // Fails while another session of the user is filed: it stays.
    await Deno.remove(dir).catch(() => {});
  }

  /**
   * Removes every record past its `expiresAt`, and every corrupt one (a
   * symlink, FIFO or socket under a record's name included); returns how
   * many. Also removes what a crash left behind: temporary files and lock
   * files more than a minute old (not counted). Each removal is checked
   * again under the session's lock, so a session refreshed meanwhile stays.
   * Files whose names the store does not make are left alone.
   *
   * An entry the sweep cannot sweep is left in place and reported to
   * `options.onSkip` (by default, on `console.error`), and the sweep goes on.
   * It rejects only when the directory cannot be listed or is lost midway,
   * or when `onSkip` throws.
   */
  clearExpired(options: ClearExpiredOptions = {}): Promise<number> {
    return this.#clear(false, options.onSkip);
  }

  /**
   * Stops the sweep timer for good, and resolves once a sweep in progress
   * has stopped. The store stays usable.
   */
  close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    return this.#sweeping ?? Promise.resolve();
  }

  /** Same as {@linkcode FileStore.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #path(name: string): string {
    return `${this.#dir}/${name}`;
  }

  /**
   * The stored session under `key`, `null`, CORRUPT, or DIRECTORY. What the
   * entry is gets looked at before it is opened, since opening a FIFO, or a
   * file through a symlink, is what must not happen: the sweep passes the
   * `type` its listing gave (which does not follow symlinks either); else
   * lstat, synchronously. The record a request names is in the kernel's
   * cache, and the syscall costs less than the round trip to Deno's thread
   * pool an async lstat takes (a get ×1.2 slower for it, against ×1.8).
   *
   * Left open is the moment between that look and the open: whoever can
   * write in the directory may swap in a FIFO, which O_NONBLOCK defuses, or
   * a symlink, which short of `--allow-all` is followed (a file elsewhere
   * that parses as a record reads as one; a device may be read without end).
   * That is no more than such a writer can do anyway: write any record, or
   * fill the disk.
   */
  async #read(
    key: string,
    type: EntryType | null = null,
  ): Promise<StoredSession | null | typeof CORRUPT | typeof DIRECTORY> {
    const path = this.#path(key);
    if (type === null) {
      try {
        type = Deno.lstatSync(path);
      } catch (error) {
        if (
          error instanceof Deno.errors.NotFound ||
          error instanceof Deno.errors.NotADirectory
        ) {
          await this.#checkDirectory();
          return null;
        }
        throw error;
      }
    }
    if (type.isDirectory) return DIRECTORY;
    if (!type.isFile) return CORRUPT;
    let bytes: Uint8Array;
    try {
      bytes = await readRecordFile(path);
    } catch (error) {
      // Replaced since it was looked at: removed, or swapped for another kind.
      const code = errorCode(error);
      if (code === "ENOENT") return null;
      if (code === "EISDIR") return DIRECTORY;
      if (typeof code === "string" && NOT_A_FILE.has(code)) return CORRUPT;
      throw error;
    }
    let value: unknown;
    try {
      value = JSON.parse(decoder.decode(bytes));
    } catch {
      return CORRUPT;
    }
    if (typeof value !== "object" || value === null) return CORRUPT;
    const { version, record } = value as Record<string, unknown>;
    if (typeof version !== "string" || version === "" || !isRecord(record)) {
      return CORRUPT;
    }
    return { record, version };
  }

  /**
   * Throws a DirectoryError if the directory is missing or is no longer a
   * directory. Called when a file is not found, so that a lost directory
   * does not read as a missing session; the cost is on that path only.
   */
  async #checkDirectory(): Promise<void> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(this.#dir);
    } catch (error) {
      const what = error instanceof Deno.errors.NotFound
        ? "is missing"
        : "cannot be used";
      throw new DirectoryError(
        `FileStore: the session directory ${this.#dir} ${what}: ${
          messageOf(error)
        }`,
        { cause: error },
      );
    }
    if (!info.isDirectory) {
      throw new DirectoryError(
        `FileStore: the session directory ${this.#dir} is not a directory`,
      );
    }
  }

  /**
   * The stored session under `key`, for a write to check: a corrupt entry
   * counts as none (the write replaces it); a directory fails the write.
   */
  async #current(key: string): Promise<StoredSession | null> {
    const found = await this.#read(key);
    if (found === DIRECTORY) throw aDirectory(this.#path(key), "session file");
    return found === CORRUPT ? null : found;
  }

  /** Writes `bytes` to a temporary file, flushes it, and renames it to `key`. */
  async #writeAtomically(key: string, bytes: Uint8Array): Promise<void> {
    const temp = this.#path(`${key}.${randomHex(8)}.tmp`);
    const file = await Deno.open(temp, {
      write: true,
      createNew: true,
      mode: 0o600,
    });
    try {
      try {
        for (let done = 0; done < bytes.length;) {
          done += await file.write(bytes.subarray(done));
        }
        await file.syncData();
      } finally {
        file.close();
      }
      await Deno.rename(temp, this.#path(key));
    } catch (error) {
      await removeIfPresent(temp).catch(() => {});
      throw error;
    }
  }

  /** Runs `fn` holding the locks of `keys`, taken in sorted order. */
  async #locked<T>(keys: string[], fn: () => Promise<T>): Promise<T> {
    const releases: Array<() => Promise<void>> = [];
    try {
      for (const key of [...new Set(keys)].sort()) {
        releases.push(await this.#lock(key));
      }
      return await fn();
    } finally {
      for (const release of releases.reverse()) await release();
    }
  }

  /**
   * Takes the lock of `key`: first this store's in-process queue, then the
   * `flock` that other processes (and other stores) honour. Resolves to the
   * function that releases both, which never rejects.
   */
  async #lock(key: string): Promise<() => Promise<void>> {
    const previous = this.#queues.get(key);
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    const tail = previous === undefined ? mine : previous.then(() => mine);
    this.#queues.set(key, tail);
    const leave = () => {
      done();
      if (this.#queues.get(key) === tail) this.#queues.delete(key);
    };
    let file: Deno.FsFile;
    try {
      await previous;
      file = await this.#flock(key);
    } catch (error) {
      leave();
      throw error;
    }
    return async () => {
      // Unlink while still holding the lock: a process that opened the file
      // meanwhile sees, once it gets the lock, that the name has moved on.
      // A lock file left behind (the unlink failed) is harmless: the next
      // writer takes it over.
      await Deno.remove(this.#path(`${key}.lock`)).catch(() => {});
      file.close();
      leave();
    };
  }

  async #flock(key: string): Promise<Deno.FsFile> {
    const path = this.#path(`${key}.lock`);
    const deadline = Date.now() + this.#lockTimeout;
    for (let attempt = 0;; attempt++) {
      const file = await this.#openLock(path);
      if (file !== null) {
        let held = false;
        try {
          held = await file.tryLock(true) && await isNamed(file, path);
        } finally {
          if (!held) file.close();
        }
        if (held) return file;
      }
      if (Date.now() >= deadline) {
        throw new Error(
          `FileStore: gave up after ${
            this.#lockTimeout / 1000
          } s waiting for another process to release ${path}`,
        );
      }
      const wait = Math.min(50, 2 ** attempt) * (0.5 + Math.random());
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /**
   * Opens the lock file at `path`, creating it, never through a symlink: an
   * exclusive create does not follow one, and an existing name is opened
   * only once lstat finds a regular file there (isNamed then checks that the
   * file opened is that one, so a symlink swapped in meanwhile is opened
   * without create, then let go). A symlink, FIFO or socket under the name
   * is none of the store's: it is removed (never its target). Resolves to
   * null when the name changed meanwhile.
   */
  async #openLock(path: string): Promise<Deno.FsFile | null> {
    try {
      return await Deno.open(path, {
        read: true,
        write: true,
        createNew: true,
        mode: 0o600,
      });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) {
        if (
          error instanceof Deno.errors.NotFound ||
          error instanceof Deno.errors.NotADirectory
        ) await this.#checkDirectory();
        throw error;
      }
    }
    const info = await lstatIfPresent(path);
    if (info === null) return null;
    if (info.isDirectory) throw aDirectory(path, "lock file");
    if (!info.isFile) {
      await removeIfPresent(path);
      return null;
    }
    try {
      return await Deno.open(path, { read: true, write: true });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    }
  }

  async #clear(
    fromTimer: boolean,
    onSkip = (name: string, error: Error) =>
      console.error(
        `FileStore: the sweep skipped ${this.#path(name)}: ${error.message}`,
      ),
  ): Promise<number> {
    const now = this.#now();
    let removed = 0;
    let batch: Promise<void>[] = [];
    /** What stops the sweep: a lost directory, or onSkip throwing. */
    const stops: unknown[] = [];
    // Never rejects: a visit that failed while the loop awaits the next
    // entry would be an unhandled rejection.
    const visit = (name: string, type: EntryType) =>
      visitEntry(name, type).catch((error) => {
        if (error instanceof DirectoryError) throw error;
        onSkip(name, error instanceof Error ? error : new Error(String(error)));
      }).catch((error) => {
        stops.push(error);
      });
    const visitEntry = async (name: string, type: EntryType) => {
      if (STORE_KEY.test(name)) {
        const found = await this.#read(name, type);
        if (found === DIRECTORY) {
          throw aDirectory(this.#path(name), "session file");
        }
        if (found === null) return;
        if (found !== CORRUPT && found.record.expiresAt > now) return;
        await this.#locked([name], async () => {
          const again = await this.#read(name);
          if (
            again === CORRUPT ||
            (again !== null && again !== DIRECTORY &&
              again.record.expiresAt <= now)
          ) {
            if (await removeIfPresent(this.#path(name))) removed++;
            const user = again === CORRUPT ? undefined : again.record.user;
            if (user !== undefined) await this.#unfile(user, name);
          }
        });
        return;
      }
      const lock = LOCK.exec(name);
      const leftover = lock ?? TEMP.exec(name);
      if (leftover === null) return;
      const info = await lstatIfPresent(this.#path(name));
      if (info === null) return;
      if (info.isDirectory) {
        throw aDirectory(
          this.#path(name),
          lock === null ? "temporary file" : "lock file",
        );
      }
      if (Date.now() - (info.mtime?.getTime() ?? 0) < LEFTOVER_AGE_MS) return;
      // Under the session's lock no write is in progress, so a temporary
      // file is an orphan; a lock file is removed by the release itself.
      await this.#locked([leftover[1]], async () => {
        if (lock === null) await removeIfPresent(this.#path(name));
      });
    };
    try {
      for await (const entry of Deno.readDir(this.#dir)) {
        if ((fromTimer && this.#closed) || stops.length > 0) break;
        batch.push(visit(entry.name, entry));
        if (batch.length >= SWEEP_BATCH) {
          await Promise.all(batch);
          batch = [];
        }
      }
    } finally {
      // Even when the listing fails: no file operation outlives the call.
      await Promise.all(batch);
    }
    if (stops.length > 0) throw stops[0];
    await this.#clearFilings(fromTimer, onSkip);
    return removed;
  }

  /**
   * Removes the filings that no longer match their record (left by a crash
   * between a write and its unfiling, or by a record removed elsewhere).
   */
  async #clearFilings(
    fromTimer: boolean,
    onSkip: (name: string, error: Error) => void,
  ): Promise<void> {
    let users: Deno.DirEntry[];
    try {
      users = await Array.fromAsync(Deno.readDir(this.#path(USERS)));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    for (const user of users) {
      if (fromTimer && this.#closed) return;
      const dir = this.#path(`${USERS}/${user.name}`);
      try {
        for await (const filed of Deno.readDir(dir)) {
          if (!STORE_KEY.test(filed.name)) continue;
          await this.#locked([filed.name], async () => {
            const found = await this.#read(filed.name);
            const owner = typeof found === "object" && found !== null
              ? found.record.user
              : undefined;
            if (owner === undefined || sha256Hex(owner) !== user.name) {
              await removeIfPresent(`${dir}/${filed.name}`);
            }
          });
        }
        await Deno.remove(dir).catch(() => {});
      } catch (error) {
        onSkip(
          `${USERS}/${user.name}`,
          error instanceof Error ? error : new Error(String(error)),
        );
      }
    }
  }

  #startSweep(): void {
    if (
      this.#timer !== undefined || this.#closed || this.#sweepInterval === 0
    ) return;
    const timer = setInterval(() => {
      if (this.#sweeping !== null) return;
      this.#sweeping = this.#clear(true).then(
        () => {},
        (error) => console.error("FileStore: the sweep failed:", error),
      ).finally(() => (this.#sweeping = null));
    }, this.#sweepInterval);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }
}
