import assert from "node:assert/strict";
import { Memo } from "../src/memo.ts";

Deno.test("Memo: exact keys only; at most `capacity` entries and `budget` characters of keys, the oldest dropped first", () => {
  const memo = new Memo<number>(3, 10);
  for (const [key, value] of [["a", 1], ["b", 2], ["c", 3]] as const) {
    memo.set(key, value);
  }
  assert.equal(memo.get("a"), 1);
  assert.equal(memo.get("A"), undefined);
  assert.equal(memo.get("a "), undefined);
  memo.set("d", 4); // past the capacity: "a", the oldest, goes
  assert.deepEqual(["a", "b", "c", "d"].map((k) => memo.get(k)), [
    undefined,
    2,
    3,
    4,
  ]);
  memo.set("12345678", 5); // 11 characters in all: "b" goes
  assert.deepEqual(["b", "c", "d", "12345678"].map((k) => memo.get(k)), [
    undefined,
    3,
    4,
    5,
  ]);
  memo.set("9", 6); // 11 characters again, within capacity: "c" goes
  assert.deepEqual(["c", "d", "9"].map((k) => memo.get(k)), [undefined, 4, 6]);
  memo.set("x".repeat(11), 7); // alone past the budget: not kept
  assert.equal(memo.get("x".repeat(11)), undefined);
  assert.equal(memo.size, 3);
  memo.set("d", 8); // set again: replaced, not counted twice
  memo.delete("12345678");
  assert.deepEqual([memo.get("d"), memo.size], [8, 2]);
});
