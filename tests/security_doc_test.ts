// SECURITY.md cites the tests that prove each guarantee: this checks that
// every cited test still exists, so that the document cannot rot silently.
//
// A citation is a backquoted path, "›", and a double-quoted name:
//
//   `tests/cookie_test.ts` › "malformed cookies never reach the store"
//
// The file must exist, and the name must be the whole string literal given
// to Deno.test, a step (t.step, or a suite's own step or behaviour helper),
// or a `name:` field, in that file's source.

import assert from "node:assert/strict";
import { MAX_CANDIDATES } from "../src/cookie.ts";
import { MAX_STORE_READS } from "../src/core.ts";
import { FORWARD_MS } from "../src/write.ts";

const ROOT = new URL("../", import.meta.url);

/** One citation of a test in a document. */
export interface Citation {
  /** The file, relative to the repository's root. */
  path: string;
  /** The test or step name, whitespace collapsed (the document wraps). */
  name: string;
  /** The line of the document it starts on. */
  line: number;
}

const CITATION = /`((?:tests|src)\/[^`\s]+\.ts)`\s*›\s*"([^"]+)"/g;
const PATH = /`((?:tests|src)\/[^`\s]+\.ts)`/g;

/** The citations in `text`, in order. */
export function citationsOf(text: string): Citation[] {
  return [...text.matchAll(CITATION)].map((match) => ({
    path: match[1],
    name: match[2].replace(/\s+/g, " ").trim(),
    line: text.slice(0, match.index).split("\n").length,
  }));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Whether `source` names a test or step `name`: the whole string literal
 * passed to `test(`, `step(` or `behaviour(`, or given as `name:`.
 */
export function namesTest(source: string, name: string): boolean {
  const literal = escapeRegExp(name);
  return new RegExp(
    `(?:\\b(?:test|step|behaviour)\\(|\\bname:)\\s*(["'\`])${literal}\\1`,
  ).test(source);
}

/** What is wrong with each citation of `text`, as messages; none when all hold. */
export async function checkCitations(text: string): Promise<string[]> {
  const problems: string[] = [];
  const sources = new Map<string, string | null>();
  const read = async (path: string) => {
    if (!sources.has(path)) {
      try {
        sources.set(path, await Deno.readTextFile(new URL(path, ROOT)));
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        sources.set(path, null);
      }
    }
    return sources.get(path)!;
  };
  for (const [, path] of text.matchAll(PATH)) {
    if (await read(path) === null) problems.push(`${path}: no such file`);
  }
  for (const { path, name, line } of citationsOf(text)) {
    const source = await read(path);
    if (source !== null && !namesTest(source, name)) {
      problems.push(`line ${line}: ${path} has no test or step "${name}"`);
    }
  }
  return [...new Set(problems)];
}

const doc = await Deno.readTextFile(new URL("SECURITY.md", ROOT));

Deno.test("SECURITY.md: every test it cites exists, under the name it quotes", async () => {
  const citations = citationsOf(doc);
  assert.ok(
    citations.length >= 50,
    `only ${citations.length} citations found: has their format changed?`,
  );
  assert.deepEqual(await checkCitations(doc), []);
});

Deno.test("SECURITY.md: a citation of a missing file or name is caught", async () => {
  const real = citationsOf(doc)[0];
  assert.deepEqual(
    await checkCitations(
      `\`${real.path}\` › "${real.name}"\n` +
        `\`tests/no_such_test.ts\` › "anything"\n` +
        `\`${real.path}\` › "a test nobody\n  wrote"\n` +
        // A name that is only part of a test's name is not the test's name.
        `\`${real.path}\` › "${real.name.slice(1)}"`,
    ),
    [
      "tests/no_such_test.ts: no such file",
      `line 3: ${real.path} has no test or step "a test nobody wrote"`,
      `line 5: ${real.path} has no test or step "${real.name.slice(1)}"`,
    ],
  );
});

Deno.test("SECURITY.md: the bounds it states are the code's", () => {
  const stated = (phrase: string) =>
    assert.ok(
      doc.replace(/\s+/g, " ").includes(phrase),
      `SECURITY.md no longer says "${phrase}"`,
    );
  stated(`at most ${MAX_CANDIDATES} values`);
  stated(`at most ${MAX_STORE_READS} store reads`);
  stated(`for up to ${FORWARD_MS / 60_000} minutes`);
});
