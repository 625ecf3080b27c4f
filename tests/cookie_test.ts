import assert from "node:assert/strict";
import {
  getCookieValues,
  httpDate,
  MAX_CANDIDATES,
  SetCookieFormat,
} from "../src/cookie.ts";
import { getSession, withSession } from "../mod.ts";
import { storeKey } from "../src/id.ts";
import {
  call,
  Client,
  parseSetCookie,
  SECRET_A,
  SECRET_B,
  SECRET_C,
  SpyStore,
} from "./helpers.ts";

Deno.test("getCookieValues finds every value of a name, in order, trimmed and unquoted", () => {
  assert.deepEqual(getCookieValues("a=1; sessionid=x; b=2", "sessionid"), [
    "x",
  ]);
  assert.deepEqual(getCookieValues("sessionid=x;sessionid=y", "sessionid"), [
    "x",
    "y",
  ]);
  assert.deepEqual(getCookieValues('  sessionid = "q" ', "sessionid"), ["q"]);
  assert.deepEqual(getCookieValues("sessionid=a=b", "sessionid"), ["a=b"]);
  assert.deepEqual(
    getCookieValues("xsessionid=1; sessionidx=2", "sessionid"),
    [],
  );
});

Deno.test("getCookieValues survives hostile headers without throwing", () => {
  const hostile = [
    "",
    ";",
    ";;;===;;;",
    "sessionid",
    "sessionid=",
    "=sessionid",
    "sessionid=\u0000\u0001",
    "sessionid=ключ; ✓=🍰",
    "sessionid=%2e%2e%2f",
    "a".repeat(1 << 20),
    "sessionid=" + "x".repeat(1 << 20),
    "; sessionid=x".repeat(100_000),
  ];
  for (const header of hostile) getCookieValues(header, "sessionid");
  assert.deepEqual(getCookieValues("sessionid=", "sessionid"), [""]);
  assert.equal(
    getCookieValues("; sessionid=x".repeat(100_000), "sessionid").length,
    MAX_CANDIDATES,
  );
});

Deno.test("httpDate is Date.toUTCString, at every hour, minute and second, and beyond year 9999", () => {
  const start = Date.UTC(2026, 11, 31, 22, 0, 0, 0);
  for (let ms = start; ms < start + 3 * 3_600_000; ms += 997) {
    assert.equal(httpDate(ms), new Date(ms).toUTCString());
  }
  for (
    const ms of [
      0,
      1,
      999,
      86_399_999,
      Date.UTC(9999, 11, 31, 23, 59, 59),
      8.64e15,
      -1,
      -86_400_001,
    ]
  ) {
    assert.equal(httpDate(ms), new Date(ms).toUTCString(), String(ms));
  }
});

Deno.test("SetCookieFormat writes the attributes in order", () => {
  const now = Date.UTC(2026, 0, 1);
  const every = new SetCookieFormat("sid", {
    path: "/",
    domain: "example.com",
    httpOnly: true,
    sameSite: "Lax",
    partitioned: true,
  });
  assert.equal(
    every.set("v", true, 60, now),
    "sid=v; Path=/; Domain=example.com; Max-Age=60; Expires=Thu, 01 Jan 2026 00:01:00 GMT; HttpOnly; Secure; SameSite=Lax; Partitioned",
  );
  const few = new SetCookieFormat("sid", {
    path: "/",
    httpOnly: false,
    sameSite: "Strict",
    partitioned: false,
  });
  assert.equal(few.set("v", false), "sid=v; Path=/; SameSite=Strict");
  assert.equal(
    few.clear(true),
    "sid=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; SameSite=Strict",
  );
});

Deno.test("malformed cookies never reach the store", async () => {
  const store = new SpyStore();
  const handler = withSession(async (req) => {
    await getSession(req);
    return new Response("ok");
  }, { store });
  const cookies = [
    "sessionid=",
    "sessionid=../../etc/passwd",
    "sessionid=..\\x",
    "sessionid=%2e%2e",
    "sessionid=a%00b", // a raw NUL cannot reach a handler: Headers refuses it
    "sessionid=" + "A".repeat(42),
    "sessionid=" + "A".repeat(44),
    "sessionid=" + "A".repeat(100_000),
    "sessionid=\u00d0\u00ba\u00d0\u00bb", // UTF-8 bytes of non-ASCII, as Deno hands them over
  ];
  for (const cookie of cookies) {
    const response = await call(handler, "/", { cookie });
    assert.equal(response.status, 200);
  }
  assert.equal(store.gets, 0);
});

Deno.test("getCookieValues takes time linear in the header: a megabyte without '=' parses at once", () => {
  // Each pair used to search for "=" to the end of the header: 64,000 ";"
  // took 32 ms, and this would take minutes.
  const started = performance.now();
  for (const header of [";".repeat(1 << 20), "a;".repeat(1 << 19) + "b=1"]) {
    assert.deepEqual(getCookieValues(header, "sessionid"), []);
  }
  assert.ok(performance.now() - started < 1_000);
});

/** A client whose session holds `user: "ram"`; `/get` answers the user. */
async function loggedIn(): Promise<Client> {
  const client = new Client(withSession(async (req) => {
    const session = await getSession(req);
    if (new URL(req.url).pathname === "/set") session.set("user", "ram");
    return new Response(String(session.get("user")));
  }, { store: new SpyStore() }));
  await client.get("/set");
  return client;
}

Deno.test("of duplicated session cookies, the first that opens a session is used", async () => {
  const client = await loggedIn();
  const header = `sessionid=junk; sessionid=${client.cookie}; sessionid=${
    "B".repeat(43)
  }`;
  const response = await call(client.handler, "/get", { cookie: header });
  assert.equal(await response.text(), "ram");
});

Deno.test("cookie tossing: a well-formed unknown id planted before the real cookie neither logs the user out nor clears the cookie", async () => {
  const client = await loggedIn();
  // A sibling subdomain set `sessionid` for the parent domain: the browser
  // sends it first.
  const planted = "P".repeat(43);
  const response = await call(client.handler, "/get", {
    cookie: `sessionid=${planted}; sessionid=${client.cookie}`,
  });
  assert.equal(await response.text(), "ram");
  assert.equal(response.headers.get("set-cookie"), null, "nothing cleared");
});

Deno.test("session fixation: a well-formed id the client chose is never adopted; the session stored gets an id of its own", async () => {
  const store = new SpyStore();
  const header = "X-Session-Id";
  const handler = withSession(async (req) => {
    (await getSession(req)).set("user", "ram");
    return new Response("ok");
  }, { store, header });
  const chosen = "F".repeat(43);
  const viaCookie = await call(handler, "/", { cookie: `sessionid=${chosen}` });
  const cookie = parseSetCookie(viaCookie.headers.get("set-cookie")!).value;
  assert.match(cookie, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(cookie, chosen);
  const viaHeader = await call(handler, "/", { headers: { [header]: chosen } });
  const token = viaHeader.headers.get(header)!;
  assert.match(token, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(token, chosen);
  assert.deepEqual(
    store.keys().sort(),
    [storeKey(cookie), storeKey(token)].sort(),
  );
  assert.equal(await store.inner.get(storeKey(chosen)), null);
});

Deno.test("cookie tossing: at most three store reads per request, however many well-formed values come", async () => {
  const store = new SpyStore();
  const handler = withSession(async (req) => {
    await getSession(req);
    return new Response("ok");
  }, { store });
  const header = Array.from(
    { length: 50 },
    (_, i) => `sessionid=${String(i).padStart(43, "Q")}`,
  ).join("; ");
  const response = await call(handler, "/", { cookie: header });
  assert.equal(store.gets, 3);
  assert.match(response.headers.get("set-cookie")!, /Max-Age=0/);
});

Deno.test("signed cookies: a forged or unsigned cookie is ignored without touching the store", async () => {
  const store = new SpyStore();
  const options = { store, secrets: [SECRET_A] };
  const handler = withSession(async (req) => {
    const session = await getSession(req);
    if (new URL(req.url).pathname === "/set") session.set("user", "ram");
    return new Response(String(session.get("user")));
  }, options);
  const client = new Client(handler);
  await client.get("/set");
  const [id, signature] = client.cookie!.split(".");
  assert.equal(await client.text("/get"), "ram");
  const gets = store.gets;
  for (
    const forged of [
      id,
      `${id}.${"A".repeat(43)}`,
      `${id}.${signature.slice(1)}A`,
      `${id}.${
        new Client(withSession(() => new Response(""), { secrets: [SECRET_C] }))
          .cookie
      }`,
    ]
  ) {
    assert.equal(
      await (await call(handler, "/get", { cookie: `sessionid=${forged}` }))
        .text(),
      "undefined",
    );
  }
  assert.equal(store.gets, gets, "no store read for a forged cookie");
});

Deno.test("signed cookies: an older secret still opens the session, and the cookie comes back signed with the new one", async () => {
  const store = new SpyStore();
  const app = async (req: Request) => {
    const session = await getSession(req);
    if (new URL(req.url).pathname === "/set") session.set("user", "ram");
    return new Response(String(session.get("user")));
  };
  const before = new Client(withSession(app, { store, secrets: [SECRET_B] }));
  await before.get("/set");
  const after = withSession(app, { store, secrets: [SECRET_A, SECRET_B] });
  const response = await call(after, "/get", {
    cookie: `sessionid=${before.cookie}`,
  });
  assert.equal(await response.text(), "ram");
  const resigned = parseSetCookie(response.headers.get("set-cookie")!).value;
  const [id] = before.cookie!.split(".");
  assert.ok(resigned.startsWith(`${id}.`));
  assert.notEqual(resigned, before.cookie);
  // The re-signed cookie works once the old secret is retired.
  const retired = withSession(app, { store, secrets: [SECRET_A] });
  assert.equal(
    await (await call(retired, "/get", { cookie: `sessionid=${resigned}` }))
      .text(),
    "ram",
  );
  // And a cookie signed with the current secret is not re-sent.
  const again = await call(after, "/get", { cookie: `sessionid=${resigned}` });
  assert.equal(again.headers.get("set-cookie"), null);
});

Deno.test("signed cookies: a write sends back the same signed value; after logout the remembered value opens nothing", async () => {
  const store = new SpyStore();
  const handler = withSession(async (req) => {
    const session = await getSession(req);
    const path = new URL(req.url).pathname;
    if (path === "/set") session.set("user", "ram");
    if (path === "/logout") await session.flush();
    return new Response(String(session.get("user")));
  }, { store, secrets: [SECRET_A, SECRET_B] });
  const client = new Client(handler);
  await client.get("/set");
  const signed = client.cookie!;
  assert.equal(await client.text("/get"), "ram");
  const write = await call(handler, "/set", { cookie: `sessionid=${signed}` });
  assert.equal(parseSetCookie(write.headers.get("set-cookie")!).value, signed);
  await call(handler, "/logout", { cookie: `sessionid=${signed}` });
  const after = await call(handler, "/get", { cookie: `sessionid=${signed}` });
  assert.equal(await after.text(), "undefined");
  assert.equal(store.keys().length, 0);
});
