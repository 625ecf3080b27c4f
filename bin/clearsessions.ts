/**
 * `clearsessions`, Django's command for the file store: removes the expired
 * (and corrupt) session files from a {@linkcode FileStore} directory, and
 * what a crash left behind, then prints how many sessions it removed. Run it
 * from cron; it is safe while servers use the directory.
 *
 *   deno task clearsessions --dir ./sessions
 *   deno run --allow-read=./sessions --allow-write=./sessions bin/clearsessions.ts --dir ./sessions
 *
 * An entry it cannot sweep (a record it may not read, a directory where a
 * session's lock goes...) is named on stderr and left; the rest is swept.
 *
 * Exit status: 0 done; 1 the directory could not be swept (missing, not a
 * directory, cannot be listed or written in); 2 usage error; 3 swept, but
 * some entries were skipped. It never creates the directory: a mistyped
 * path is an error.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { FileStore } from "../src/stores/file.ts";

const USAGE = "usage: clearsessions --dir DIR";

/**
 * Runs the command with `args` (as `Deno.args`), printing its result;
 * resolves to the exit status.
 *
 * @example
 * ```ts
 * import { clearSessions } from "./clearsessions.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const status = await clearSessions(["--dir", dir]); // prints "Removed 0 expired sessions from ..."
 * if (status !== 0) throw new Error(`exit status ${status}`);
 * await Deno.remove(dir);
 * ```
 */
export async function clearSessions(args: string[]): Promise<number> {
  let dir: string | undefined;
  try {
    const { values } = parseArgs({
      args,
      options: {
        dir: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    dir = values.dir;
  } catch (error) {
    console.error(`clearsessions: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (dir === undefined || dir === "") {
    console.error(`clearsessions: --dir is required\n${USAGE}`);
    return 2;
  }
  try {
    const info = await Deno.stat(dir);
    if (!info.isDirectory) throw new Error("not a directory");
    const store = new FileStore(dir, { sweepInterval: 0 });
    let skipped = 0;
    const removed = await store.clearExpired({
      onSkip(name, error) {
        skipped++;
        console.error(
          `clearsessions: skipped ${store.dir}/${name}: ${error.message}`,
        );
      },
    });
    console.log(
      `Removed ${removed} expired session${
        removed === 1 ? "" : "s"
      } from ${dir}`,
    );
    if (skipped === 0) return 0;
    console.error(
      `clearsessions: ${skipped} ${
        skipped === 1 ? "entry" : "entries"
      } could not be swept; they are named above`,
    );
    return 3;
  } catch (error) {
    console.error(`clearsessions: ${dir}: ${(error as Error).message}`);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exitCode = await clearSessions(Deno.args);
}
