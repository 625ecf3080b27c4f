import assert from "node:assert/strict";
import { FileStore } from "../mod.ts";
import { testSessionStore } from "../testing.ts";

Deno.test("FileStore passes the conformance suite", async (t) => {
  const dirs = new Map<FileStore, string>();
  await testSessionStore(t, {
    create: async () => {
      const dir = await Deno.makeTempDir({ prefix: "file_store_" });
      const store = new FileStore(dir);
      dirs.set(store, dir);
      return store;
    },
    dispose: async (store) => {
      await (store as FileStore).close();
      const dir = dirs.get(store as FileStore)!;
      // Every lock is released and no temporary file is left: only records.
      for await (const entry of Deno.readDir(dir)) {
        assert.match(entry.name, /^[0-9a-f]{64}$/);
      }
      await Deno.remove(dir, { recursive: true });
    },
  });
});
