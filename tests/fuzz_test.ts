// Cookie and header fuzzing through the wrapped handler, unsigned and
// signed: whatever the Cookie headers hold (megabyte-long values, thousands
// of pairs, duplicated session cookies, quotes, control bytes, invalid
// percent escapes, forged and truncated signatures, other users' cookies
// under other names), the handler answers, the store is asked only for
// well-formed ids (with secrets: validly signed ones), at most three a
// request, and a request sees its own user's session or none, never
// another's. A fixed seed; `deno test tests/fuzz_test.ts -- --seed S --runs N`
// for another run.

import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import fc from "fast-check";
import { withSession } from "../mod.ts";
import { isWellFormedId, Signer, storeKey } from "../src/id.ts";
import { testApp } from "./app.ts";
import {
  call,
  parseSetCookie,
  SECRET_A,
  SECRET_B,
  SECRET_C,
  SpyStore,
} from "./helpers.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "6000" },
    seed: { type: "string", default: "20261202" },
  },
}).values;
const RUNS = Number(args.runs);
const SEED = Number(args.seed);
/** Megabyte-scale inputs are fewer: each takes milliseconds to build. */
const BIG_RUNS = Math.max(10, Math.floor(RUNS / 50));

const BASE64URL =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/**
 * What `new Headers()` accepts in a value: every byte but NUL, LF and CR
 * (checked in its own test below). Headers also trims spaces and tabs at
 * either end of the whole value.
 */
const HEADER_BYTES = Array.from({ length: 256 }, (_, c) => c)
  .filter((c) => c !== 0 && c !== 0x0a && c !== 0x0d)
  .map((c) => String.fromCharCode(c));
/** Header bytes that `String.prototype.trim` (and so the cookie parser) removes. */
const TRIMMED = HEADER_BYTES.filter((c) => c.trim() === "");
/**
 * Header bytes that break an id they are put in or beside: neither
 * base64url, nor trimmed, nor the ";" that ends a pair.
 */
const BREAKING = HEADER_BYTES.filter((c) =>
  !BASE64URL.includes(c) && !TRIMMED.includes(c) && c !== ";"
);

/**
 * One piece of a Cookie header, and what it may lead to: the ids whose
 * store key a request holding it may read (well-formed ids; with secrets,
 * validly signed ones), and whether it may open the requesting user's own
 * session.
 */
interface Piece {
  text: string;
  reads: string[];
  own: boolean;
  kind: string;
}

/** A user with a session: the name it holds, its id, and the cookie value that opens it. */
interface User {
  name: string;
  id: string;
  value: string;
}

const junk = (maxLength = 24) =>
  fc.string({ unit: fc.constantFrom(...HEADER_BYTES), maxLength });
const base64url = (minLength: number, maxLength: number) =>
  fc.string({ unit: fc.constantFrom(...BASE64URL), minLength, maxLength });
/** Base64url of any length but an id's 43. */
const wrongLength = fc.oneof(base64url(0, 42), base64url(44, 100));
const anId = base64url(43, 43);
/** Names other than the session cookie's, some of them close to it. */
const otherName = fc.oneof(
  fc.constantFrom(
    "SESSIONID",
    "Sessionid",
    "sessionid2",
    "xsessionid",
    "session_id",
    "session",
    "sessionid\x01",
    "sess ionid",
    "",
  ),
  base64url(1, 12),
);
/** The session cookie's name as a header may spell it: the parser trims names. */
const sessionName = fc.constantFrom(
  "sessionid",
  " sessionid",
  "sessionid ",
  "\tsessionid",
  "sessionid\xa0",
);
const sessionPair = (value: fc.Arbitrary<string>) =>
  fc.tuple(sessionName, value).map(([name, v]) => `${name}=${v}`);

/** `text` with the character at `at` replaced by another base64url one. */
function substitute(text: string, at: number): string {
  const i = at % text.length;
  const c = BASE64URL[(BASE64URL.indexOf(text[i]) + 1 + at % 63) % 64];
  return text.slice(0, i) + c + text.slice(i + 1);
}

/** Ways to break a valid value: none is an id, nor signed by any secret. */
function broken(value: string): fc.Arbitrary<string> {
  const inner = fc.integer({ min: 1, max: value.length - 1 });
  const breaking = fc.constantFrom(...BREAKING);
  return fc.oneof(
    inner.map((at) => value.slice(0, at)), // truncated
    fc.tuple(breaking, inner).map(([c, at]) =>
      value.slice(0, at) + c + value.slice(at)
    ),
    breaking.map((c) => value + c),
    breaking.map((c) => c + value),
    base64url(1, 3).map((extra) => value + extra), // too long
    inner.map((at) =>
      // one character percent-encoded
      value.slice(0, at) +
      `%${value.charCodeAt(at).toString(16).toUpperCase()}` +
      value.slice(at + 1)
    ),
  );
}

/** The pieces a fuzzed Cookie header is made of, for `own`'s requests, with `other`'s cookie about. */
function pieceArb(
  signed: boolean,
  own: User,
  other: User,
): fc.Arbitrary<Piece> {
  /** Pieces of a kind; `reads`: the ids a piece may have read. */
  const piece = (
    kind: string,
    arb: fc.Arbitrary<string | { text: string; reads: string[] }>,
    opens = false,
  ) =>
    arb.map((made): Piece =>
      typeof made === "string"
        ? { text: made, reads: [], own: opens, kind }
        : { ...made, own: opens, kind }
    );
  const signer = new Signer([SECRET_A]);
  const cookieOf = (id: string) => signed ? signer.sign(id) : id;
  const signatureOf = (id: string) => signer.sign(id).split(".")[1];
  /** `user`'s id with a signature no secret made for it. */
  const forged = (user: User, other: User) =>
    fc.oneof(
      anId, // random
      base64url(0, 42), // random, short
      fc.constant(signatureOf(other.id)), // another id's
      fc.constant(new Signer([SECRET_C]).sign(user.id).split(".")[1]), // an unknown secret's
      broken(signatureOf(user.id)),
      fc.nat().map((at) => substitute(signatureOf(user.id), at)),
      fc.constant(""),
    ).map((signature) => `${user.id}.${signature}`);
  /** An id nobody holds, in a cookie that is otherwise right: it may be read. */
  const unknown = (id: fc.Arbitrary<string>) =>
    fc.tuple(id, fc.boolean()).chain(([id, quoted]) =>
      sessionPair(
        fc.constant(quoted ? `"${cookieOf(id)}"` : cookieOf(id)),
      ).map((text) => ({ text, reads: [id] }))
    );
  const ownValid = signed
    // The older secret still verifies (and the response signs afresh).
    ? fc.constantFrom(own.value, new Signer([SECRET_B]).sign(own.id))
    : fc.constant(own.value);
  const trimmed = fc.constantFrom("", ...TRIMMED);
  return fc.oneof(
    piece("junk", junk()),
    piece(
      "other cookies",
      fc.tuple(otherName, junk()).map(([n, v]) => `${n}=${v}`),
    ),
    piece(
      "session cookie, junk value",
      sessionPair(fc.oneof(
        junk(),
        wrongLength,
        junk().map((v) => `"${v}`),
        wrongLength.map((v) => `"${v}"`),
        fc.constantFrom('"', '""', "'", "%", "%z", "%zz", "%4", "%E2%82", "%%"),
        fc.tuple(anId, fc.constantFrom(...BREAKING), fc.nat(42)).map((
          [id, c, at],
        ) => id.slice(0, at) + c + id.slice(at + 1)),
      )),
    ),
    piece("session cookie, unknown id", unknown(anId)),
    piece(
      "own cookie",
      fc.tuple(ownValid, trimmed, trimmed, fc.boolean()).chain((
        [value, before, after, quoted],
      ) =>
        sessionPair(
          fc.constant(before + (quoted ? `"${value}"` : value) + after),
        ).map((text) => ({ text, reads: [own.id] }))
      ),
      true,
    ),
    piece("own cookie, broken", sessionPair(broken(own.value))),
    piece(
      "own id, one character changed",
      unknown(fc.nat().map((at) => substitute(own.id, at))),
    ),
    piece("other user's cookie, broken", sessionPair(broken(other.value))),
    piece(
      "other user's id, one character changed",
      unknown(fc.nat().map((at) => substitute(other.id, at))),
    ),
    piece(
      "other user's cookie under another name",
      otherName.map((name) => `${name}=${other.value}`),
    ),
    piece(
      "other user's cookie inside another cookie's value",
      fc.constantFrom(
        `x=sessionid=${other.value}`,
        `x="sessionid=${other.value}"`,
        `x=${other.value}`,
        `sessionid=sessionid=${other.value}`,
      ),
    ),
    ...signed
      ? [
        piece("forged signature, own id", sessionPair(forged(own, other))),
        piece(
          "forged signature, other user's id",
          sessionPair(forged(other, own)),
        ),
        piece(
          "unsigned id where signed ones are expected",
          sessionPair(fc.constantFrom(own.id, other.id)),
        ),
      ]
      : [
        piece(
          "signed value where unsigned ones are expected",
          sessionPair(
            fc.constantFrom(signer.sign(own.id), signer.sign(other.id)),
          ),
        ),
      ],
  );
}

/** Separators between pairs, every one with its ";". */
const separator = fc.constantFrom("; ", ";", " ;", ";;", "; ; ", ";\t", " ; ");

/** A request's Cookie headers (one to three) and the pieces they hold. */
interface Input {
  headers: string[];
  pieces: Piece[];
}

function inputArb(pieces: fc.Arbitrary<Piece[]>): fc.Arbitrary<Input> {
  return fc.tuple(pieces, separator, fc.array(fc.nat(), { maxLength: 2 }))
    .map(([pieces, sep, cuts]) => {
      // Several Cookie headers join with ", " (Headers' rule): a pair cut
      // there reads as one value holding the comma.
      const bounds = [...new Set(cuts.map((c) => c % (pieces.length + 1)))]
        .sort((a, b) => a - b);
      const headers: string[] = [];
      let from = 0;
      for (const to of [...bounds, pieces.length]) {
        headers.push(pieces.slice(from, to).map((p) => p.text).join(sep));
        from = to;
      }
      return { headers: headers.filter((h) => h !== ""), pieces };
    });
}

/** What the fuzzing of one mode saw, for the report. */
class Tally {
  inputs = 0;
  bytes = 0;
  pieces = 0;
  largestHeader = 0;
  readsOfOwn = 0;
  readsOfUnknown = 0;
  readsOfMalformed = 0;
  sawOwn = 0;
  sawNothing = 0;
  sawOther = 0;
  readonly kinds = new Map<string, number>();

  report(label: string): string {
    return `${label}: ${this.inputs} inputs (${this.pieces} pieces, ${
      (this.bytes / 2 ** 20).toFixed(1)
    } MiB, largest header ${this.largestHeader} bytes); store reads: ${this.readsOfOwn} of the user's own id, ${this.readsOfUnknown} of well-formed unknown ids, ${this.readsOfMalformed} of malformed or unsigned ids; saw its own session ${this.sawOwn} times, nothing ${this.sawNothing}, another user's ${this.sawOther}`;
  }
}

/**
 * Sends `input` to `handler` and checks the three properties; the counts go
 * to `tally`.
 */
async function probe(
  handler: Deno.ServeHandler,
  store: SpyStore,
  own: User,
  other: User,
  input: Input,
  tally: Tally,
) {
  tally.inputs++;
  tally.pieces += input.pieces.length;
  for (const header of input.headers) {
    tally.bytes += header.length;
    tally.largestHeader = Math.max(tally.largestHeader, header.length);
  }
  for (const { kind } of input.pieces) {
    tally.kinds.set(kind, (tally.kinds.get(kind) ?? 0) + 1);
  }
  const before = store.keysRead.length;
  const writes = store.sets + store.deletes;
  const response = await call(handler, "/data", {
    headers: input.headers.map((value) => ["cookie", value]),
  });
  assert.equal(response.status, 200);
  const seen = await response.json();

  const reads = store.keysRead.slice(before);
  const allowed = new Set(
    input.pieces.flatMap((p) => p.reads).filter(isWellFormedId).map(storeKey),
  );
  const ownKey = storeKey(own.id);
  for (const key of reads) {
    if (key === ownKey) tally.readsOfOwn++;
    else if (allowed.has(key)) tally.readsOfUnknown++;
    else tally.readsOfMalformed++;
  }
  assert.ok(
    reads.every((key) => allowed.has(key)),
    "the store is asked only for well-formed (signed) ids the header holds",
  );
  // README's bound on what a flood of well-formed values costs.
  assert.ok(reads.length <= 3, `${reads.length} store reads`);
  assert.equal(store.sets + store.deletes, writes, "nothing written");

  if (seen.data.user === own.name) tally.sawOwn++;
  else if (seen.data.user === other.name) tally.sawOther++;
  else tally.sawNothing++;
  if (input.pieces.some((p) => p.own) && !seen.isNew) {
    assert.deepEqual(seen.data, { user: own.name }, "its own session");
  } else {
    assert.deepEqual([seen.data, seen.isNew], [{}, true], "no session");
  }
  for (const header of response.headers.getSetCookie()) {
    // Cleared, or its own sent again (signed afresh, for an older secret).
    const { value } = parseSetCookie(header);
    assert.ok(
      value === "" || value.split(".")[0] === own.id,
      `a cookie of its own or none: ${value}`,
    );
  }
}

/** Megabyte-scale headers: one filler, with the user's own cookie before it, after it, both or neither. */
function bigArb(own: User, other: User): fc.Arbitrary<Piece[]> {
  const ownPiece: Piece = {
    text: `sessionid=${own.value}`,
    reads: [own.id],
    own: true,
    kind: "own cookie",
  };
  const filler = fc.tuple(
    fc.constantFrom(
      // [kind, what it starts with, what it repeats]
      ["one huge value", "big=", "x"],
      ["one huge session cookie", "sessionid=", "A"],
      ["semicolons", "", ";"],
      ["equals signs", "", "="],
      ["pairs without =", "", "sessionid;"],
      ["thousands of pairs", "", "a=b; "],
      ["thousands of session cookies with junk", "", "sessionid=%zz; "],
      [
        "thousands of another user's cookies elsewhere",
        "",
        `x=${other.value}; `,
      ],
      ["quotes", "sessionid=", '"'],
      ["control bytes", "", "\x01\x7f\x1b\x0b"],
      ["percent escapes", "sessionid=", "%E2%8"],
    ),
    fc.integer({ min: 64 * 1024, max: 1024 * 1024 }),
  ).map(([[kind, start, unit], bytes]): Piece => ({
    text: start + unit.repeat(Math.ceil(bytes / unit.length)),
    reads: [],
    own: false,
    kind,
  }));
  return fc.tuple(filler, fc.constantFrom("none", "before", "after", "both"))
    .map(([big, where]) => [
      ...where === "before" || where === "both" ? [ownPiece] : [],
      big,
      ...where === "after" || where === "both" ? [ownPiece] : [],
    ]);
}

Deno.test("Headers refuses NUL, CR, LF and characters above U+00FF in a Cookie value, and takes every other byte", () => {
  for (const c of ["\0", "\n", "\r", "\u0100", "€", "\u{1F36A}"]) {
    assert.throws(
      () => new Headers([["cookie", `sessionid=a${c}b`]]),
      TypeError,
      JSON.stringify(c),
    );
    assert.throws(
      () => new Request("http://localhost/", { headers: { cookie: `a${c}b` } }),
      TypeError,
    );
  }
  for (const c of HEADER_BYTES) {
    assert.equal(new Headers([["cookie", `a${c}b`]]).get("cookie"), `a${c}b`);
  }
});

for (const signed of [false, true]) {
  const mode = signed ? "signed cookies" : "unsigned cookies";
  Deno.test(`fuzzed Cookie headers, ${mode}: never a crash, never a store read for a malformed id, never another user's session`, async (t) => {
    const store = new SpyStore();
    const handler = withSession(testApp(), {
      store,
      ...signed ? { secrets: [SECRET_A, SECRET_B] } : {},
    });
    const login = async (name: string): Promise<User> => {
      const response = await call(handler, `/set?user=${name}`);
      const { value } = parseSetCookie(response.headers.get("set-cookie")!);
      return { name, id: value.split(".")[0], value };
    };
    const alice = await login("alice");
    const bob = await login("bob");
    const writesBefore = store.sets + store.deletes;
    const tally = new Tally();

    for (const [own, other] of [[alice, bob], [bob, alice]]) {
      await t.step(`${own.name}'s requests, mixed with anything`, async () => {
        await fc.assert(
          fc.asyncProperty(
            inputArb(
              fc.array(pieceArb(signed, own, other), { maxLength: 40 }),
            ),
            (input) => probe(handler, store, own, other, input, tally),
          ),
          { seed: SEED, numRuns: RUNS / 2 },
        );
      });
    }

    await t.step("megabyte-long headers and thousands of pairs", async () => {
      await fc.assert(
        fc.asyncProperty(
          inputArb(bigArb(alice, bob)),
          (input) => probe(handler, store, alice, bob, input, tally),
        ),
        { seed: SEED, numRuns: BIG_RUNS },
      );
    });

    await t.step("the sessions are as they were", async () => {
      assert.equal(store.sets + store.deletes, writesBefore);
      assert.equal(store.keys().length, 2);
      for (const user of [alice, bob]) {
        const stored = await store.inner.get(storeKey(user.id));
        assert.deepEqual(stored?.record.data, { user: user.name });
      }
    });

    assert.equal(tally.readsOfMalformed, 0);
    assert.equal(tally.sawOther, 0);
    console.log(tally.report(`${mode}, seed ${SEED}`));
    console.log(
      `  pieces by kind: ${
        [...tally.kinds].map(([kind, n]) => `${kind} ${n}`).join(", ")
      }`,
    );
  });
}

Deno.test("over real HTTP, a Cookie header past Deno.serve's limit is refused by the server before the handler, which goes on answering", async () => {
  const store = new SpyStore();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    withSession(testApp(), { store }),
  );
  const url = `http://127.0.0.1:${server.addr.port}/data`;
  try {
    const send = async (cookie: string) => {
      const response = await fetch(url, { headers: { cookie } });
      await response.body?.cancel();
      return response.status;
    };
    assert.equal(await send(`sessionid=${"A".repeat(1 << 20)}`), 400);
    assert.equal(await send(`a=${"x; ".repeat(30_000)}`), 400);
    assert.equal(await send(`a=${"x; ".repeat(20_000)}`), 200);
    assert.equal(await send("sessionid=%zz"), 200);
    assert.equal(store.gets, 0);
  } finally {
    await server.shutdown();
  }
});
