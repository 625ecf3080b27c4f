import assert from "node:assert/strict";
import {
  getSession,
  type Session,
  type SessionData,
  withSession,
} from "../mod.ts";
import { assertJsonValue } from "../src/json.ts";
import { call, Client, SpyStore } from "./helpers.ts";

/** Runs `body` against a fresh session inside a request. */
async function withFreshSession<T extends SessionData = SessionData>(
  body: (session: Session<T>) => void | Promise<void>,
): Promise<Response> {
  const handler = withSession(async (req) => {
    await body(await getSession<T>(req));
    return new Response("ok");
  }, { store: new SpyStore() });
  return await call(handler, "/");
}

Deno.test("the session reads and writes like Django's request.session", async () => {
  await withFreshSession((session) => {
    assert.equal(session.isNew, true);
    assert.equal(session.isEmpty, true);
    assert.equal(session.isModified, false);
    assert.equal(session.id, null);
    session.set("a", 1);
    session.set("b", { nested: [true, null, "x"] });
    assert.equal(session.get("a"), 1);
    assert.equal(session.get("missing"), undefined);
    assert.equal(session.has("a"), true);
    assert.equal(session.size, 2);
    assert.deepEqual(session.keys(), ["a", "b"]);
    assert.deepEqual(session.entries(), [["a", 1], ["b", {
      nested: [true, null, "x"],
    }]]);
    assert.equal(session.setDefault("a", 5), 1);
    assert.equal(session.setDefault("c", 5), 5);
    assert.equal(session.pop("c"), 5);
    assert.equal(session.pop("c", 7), 7);
    assert.equal(session.pop("c"), undefined);
    assert.equal(session.delete("b"), true);
    assert.equal(session.delete("b"), false);
    assert.equal(session.isModified, true);
    session.clear();
    assert.equal(session.isEmpty, true);
  });
});

Deno.test("set refuses values that are not JSON, naming the key, and changes nothing", async () => {
  class Point {
    x = 1;
  }
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const sparse = [1, , 3];
  const bad: Array<[string, unknown]> = [
    ["undefined", undefined],
    ["function", () => 1],
    ["symbol", Symbol("s")],
    ["bigint", 10n],
    ["nan", NaN],
    ["infinity", -Infinity],
    ["date", new Date()],
    ["map", new Map()],
    ["set", new Set()],
    ["class", new Point()],
    ["cycle", cyclic],
    ["sparse", sparse],
    ["nested", { list: [{ when: new Date() }] }],
    ["symbolKey", { [Symbol("k")]: 1 }],
    ["regexp", /x/],
    ["typed", new Uint8Array(2)],
  ];
  await withFreshSession((session) => {
    session.set("kept", "value");
    const before = session.entries();
    for (const [key, value] of bad) {
      assert.throws(
        () => session.set(key, value as never),
        (error: Error) =>
          error instanceof TypeError &&
          error.message.includes(JSON.stringify(key)),
        key,
      );
    }
    assert.deepEqual(session.entries(), before);
  });
});

Deno.test("assertJsonValue names the path to the bad part", () => {
  assert.throws(
    () =>
      assertJsonValue("cart", {
        items: [{ id: 1 }, { id: 2, at: new Date() }],
      }),
    /cart\.items\[1\]\.at is a Date/,
  );
  assert.throws(() => assertJsonValue("n", NaN), /n is NaN/);
});

Deno.test("assertJsonValue at any depth: deep values pass, deep problems and cycles are named", () => {
  const nest = (depth: number, leaf: unknown) => {
    let value = leaf;
    for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { a: value };
    return value;
  };
  for (const depth of [63, 64, 65, 200]) {
    assertJsonValue("deep", nest(depth, "ok"));
    assert.throws(
      () => assertJsonValue("deep", nest(depth, undefined)),
      /deep(\.a|\[0\])+ is undefined/,
    );
  }
  const ring: Record<string, unknown> = {};
  let at = ring;
  for (let i = 0; i < 100; i++) at = (at.next = {}) as Record<string, unknown>;
  at.next = ring;
  assert.throws(() => assertJsonValue("ring", ring), /a cycle/);
});

Deno.test("set accepts every JSON value, including shared (non-cyclic) references and null prototypes", async () => {
  const shared = { x: 1 };
  const bare = Object.create(null);
  bare.k = "v";
  await withFreshSession((session) => {
    for (
      const value of [
        null,
        true,
        false,
        0,
        -1.5,
        1e308,
        "",
        "ünïcödé",
        [],
        {},
        [[[]]],
        { a: shared, b: shared },
        bare,
      ]
    ) {
      session.set("v", value);
    }
  });
});

Deno.test("set refuses keys that are not strings", async () => {
  await withFreshSession((session) => {
    assert.throws(() => session.set(1 as unknown as string, "x"), TypeError);
  });
});

Deno.test("typed sessions: keys and values follow T", async () => {
  type Data = { user: string; visits: number };
  await withFreshSession<Data>((session) => {
    session.set("visits", (session.get("visits") ?? 0) + 1);
    session.set("user", "ram");
    // @ts-expect-error: visits is a number
    assert.throws(() => session.set("visits", undefined));
    const user: string | undefined = session.get("user");
    assert.equal(user, "ram");
  });
});

Deno.test("the test cookie, as Django's: set on one request, seen on the next, then deleted", async () => {
  const store = new SpyStore();
  const handler = withSession(async (req) => {
    const session = await getSession(req);
    const path = new URL(req.url).pathname;
    if (path === "/form") session.setTestCookie();
    if (path === "/delete") session.deleteTestCookie();
    return Response.json({
      worked: session.testCookieWorked(),
      data: Object.fromEntries(session.entries()),
    });
  }, { store });
  const browser = new Client(handler);
  assert.deepEqual(await (await browser.get("/form")).json(), {
    worked: true,
    data: { testcookie: "worked" },
  });
  assert.equal((await (await browser.get("/post")).json()).worked, true);
  // A browser that refuses cookies never sends it back.
  const refusing = withSession(async (req) => {
    const session = await getSession(req);
    return Response.json({ worked: session.testCookieWorked() });
  }, { store });
  assert.equal((await (await call(refusing, "/post")).json()).worked, false);
  const deleted = await browser.get("/delete");
  assert.deepEqual(await deleted.json(), { worked: false, data: {} });
  assert.match(deleted.headers.get("set-cookie")!, /Max-Age=0/, "now empty");
});
