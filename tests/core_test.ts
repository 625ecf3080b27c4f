// The request core (src/core.ts) driven by hand, as an adapter drives it,
// and withSession (src/middleware.ts) as the thin wrapper over it.

import assert from "node:assert/strict";
import { getSession, SessionManager, withSession } from "../mod.ts";
import { call, parseSetCookie, SpyStore } from "./helpers.ts";

Deno.test("SessionManager: begin reads nothing; the session loads on first use; commit applies the rules", async () => {
  const store = new SpyStore();
  const sessions = new SessionManager({ store });
  const request = new Request("http://localhost/");
  const scope = sessions.begin(request);
  assert.equal(scope.started, false);
  assert.equal(store.gets + store.sets, 0);
  const session = await getSession(request);
  assert.equal(scope.started, true);
  assert.equal(await scope.load(), session, "one session per request");
  session.set("user", "ram");
  const response = await scope.commit(new Response("ok"));
  assert.equal(response.headers.get("vary"), "Cookie");
  assert.match(response.headers.get("set-cookie")!, /^sessionid=/);
  assert.deepEqual((await store.only()).data, { user: "ram" });
});

Deno.test("SessionManager: a session never asked for leaves the response as it is", async () => {
  const store = new SpyStore();
  const scope = new SessionManager({ store }).begin(new Request("http://x/"));
  const original = new Response("ok");
  assert.equal(await scope.commit(original), original);
  assert.equal(original.headers.get("vary"), null);
  const headers = new Headers();
  await scope.commitHeaders(200, headers);
  assert.deepEqual([...headers], []);
});

Deno.test("RequestSession.commitHeaders: the same rules for a response that is not a Response yet", async () => {
  const store = new SpyStore();
  const sessions = new SessionManager({ store });
  const first = new Request("http://localhost/");
  const scope = sessions.begin(first);
  (await scope.load()).set("n", 1);
  const headers = new Headers({ vary: "Accept" });
  await scope.commitHeaders(200, headers);
  assert.equal(headers.get("vary"), "Accept, Cookie");
  const cookie = parseSetCookie(headers.get("set-cookie")!);

  // A 5xx saves nothing.
  const again = new Request("http://localhost/", {
    headers: { cookie: `sessionid=${cookie.value}` },
  });
  const failing = sessions.begin(again);
  (await failing.load()).set("n", 2);
  const errorHeaders = new Headers();
  await failing.commitHeaders(500, errorHeaders);
  assert.equal(errorHeaders.get("set-cookie"), null);
  assert.deepEqual((await store.only()).data, { n: 1 });
});

Deno.test("RequestSession.commit rejects what is not a Response with a TypeError", async () => {
  const scope = new SessionManager().begin(new Request("http://x/"));
  await assert.rejects(
    scope.commit(undefined as unknown as Response),
    {
      name: "TypeError",
      message: "commit(response): expected a Response, got undefined",
    },
  );
});

Deno.test("withSession: a handler that returns something other than a Response gets a TypeError naming its mistake", async (t) => {
  // What npm's Oak and other fetch shims hand back: a Response of their own.
  const foreign = { status: 200, headers: {}, body: null };
  const cases: Array<[string, unknown, RegExp]> = [
    [
      "nothing",
      undefined,
      /the handler returned undefined instead of a Response/,
    ],
    ["null", null, /the handler returned null instead of a Response/],
    [
      "a string",
      "hello",
      /the handler returned a string instead of a Response/,
    ],
    ["a plain object", { ok: true }, /returned a plain object instead/],
    ["an instance", new URL("http://x/"), /returned a URL instead/],
    [
      "another implementation's Response",
      foreign,
      /a Response of another implementation than Deno's \(wrap it: new Response\(r\.body, r\)\)/,
    ],
  ];
  for (const [what, value, message] of cases) {
    await t.step(`${what}, whether or not it used the session`, async () => {
      for (const touch of [false, true]) {
        const handler = withSession(async (req) => {
          if (touch) (await getSession(req)).set("a", 1);
          return value as Response;
        }, { store: new SpyStore() });
        await assert.rejects(
          call(handler, "/"),
          (error: Error) =>
            error instanceof TypeError && message.test(error.message),
        );
      }
    });
  }
});

Deno.test("getSession finds the session of the latest begin on a request", async () => {
  const store = new SpyStore();
  const outer = new SessionManager({ store });
  const inner = new SessionManager({ store, cookie: { name: "inner" } });
  const request = new Request("http://localhost/");
  const outerScope = outer.begin(request);
  const innerScope = inner.begin(request);
  (await getSession(request)).set("x", 1);
  assert.equal(outerScope.started, false);
  const response = await innerScope.commit(new Response("ok"));
  assert.match(response.headers.get("set-cookie")!, /^inner=/);
});

Deno.test("RequestSession.commit(response, status): the rules go by the status given, as when a framework turned a thrown error into a response", async () => {
  const store = new SpyStore();
  const sessions = new SessionManager({ store });
  const first = sessions.begin(new Request("http://localhost/"));
  (await first.load()).set("n", 1);
  const saved = await first.commit(new Response("ok"), 200);
  const cookie = parseSetCookie(saved.headers.get("set-cookie")!);

  const again = sessions.begin(
    new Request("http://localhost/", {
      headers: { cookie: `sessionid=${cookie.value}` },
    }),
  );
  (await again.load()).set("n", 2);
  const page = await again.commit(
    new Response("error page", { status: 404 }),
    500,
  );
  assert.equal(page.status, 404, "the response itself is left as it is");
  assert.equal(page.headers.get("set-cookie"), null);
  assert.equal(page.headers.get("vary"), "Cookie");
  assert.deepEqual((await store.only()).data, { n: 1 }, "nothing saved");
});

Deno.test("RequestSession.commitHeaders takes any headers object with get, set and append", async () => {
  const fields = new Map<string, string[]>();
  const headers = {
    get: (name: string) => fields.get(name)?.join(", ") ?? null,
    set: (name: string, value: string) => void fields.set(name, [value]),
    append: (name: string, value: string) =>
      void fields.set(name, [...fields.get(name) ?? [], value]),
  };
  const scope = new SessionManager({ store: new SpyStore() }).begin(
    new Request("http://localhost/"),
  );
  (await scope.load()).set("n", 1);
  await scope.commitHeaders(200, headers);
  assert.deepEqual(fields.get("vary"), ["Cookie"]);
  assert.match(fields.get("set-cookie")![0], /^sessionid=/);
});
