import assert from "node:assert/strict";
import { startDeno, startExample, startServer } from "./example_server.ts";
import { parseSetCookie } from "./helpers.ts";

Deno.test("the example server over real HTTP: /set, then /get with the cookie the client received", async () => {
  await using server = await startExample();
  const set = await fetch(`${server.url}/set`);
  assert.equal(await set.text(), "User session is set\n");
  const cookie = parseSetCookie(set.headers.get("set-cookie")!);
  assert.equal(cookie.name, "sessionid");

  const get = await fetch(`${server.url}/get`, {
    headers: { cookie: `sessionid=${cookie.value}` },
  });
  assert.equal(await get.text(), "Welcome Ram\n");

  const stranger = await fetch(`${server.url}/get`);
  assert.equal(stranger.status, 200);
  assert.match(await stranger.text(), /no session/);
});

Deno.test("the example's login page: login rotates the id, logout clears the cookie", async () => {
  await using server = await startExample();
  const first = await fetch(`${server.url}/set`);
  await first.body?.cancel();
  const anonymous = parseSetCookie(first.headers.get("set-cookie")!).value;

  const login = await fetch(`${server.url}/login`, {
    method: "POST",
    body: new URLSearchParams({ username: "Ram <b>" }),
    headers: { cookie: `sessionid=${anonymous}` },
    redirect: "manual",
  });
  await login.body?.cancel();
  assert.equal(login.status, 303);
  const loggedIn = parseSetCookie(login.headers.get("set-cookie")!).value;
  assert.notEqual(loggedIn, anonymous, "a new id after login");

  const page = await (await fetch(`${server.url}/`, {
    headers: { cookie: `sessionid=${loggedIn}` },
  })).text();
  assert.match(page, /Logged in as <b>Ram &#60;b&#62;<\/b>/);
  const old = await (await fetch(`${server.url}/`, {
    headers: { cookie: `sessionid=${anonymous}` },
  })).text();
  assert.match(old, /Not logged in/);

  const logout = await fetch(`${server.url}/logout`, {
    method: "POST",
    headers: { cookie: `sessionid=${loggedIn}` },
    redirect: "manual",
  });
  await logout.body?.cancel();
  assert.equal(
    parseSetCookie(logout.headers.get("set-cookie")!).attributes.get("max-age"),
    "0",
  );
  const after = await (await fetch(`${server.url}/`, {
    headers: { cookie: `sessionid=${loggedIn}` },
  })).text();
  assert.match(after, /Not logged in/);
});

Deno.test("the example's login answers 400, not 500, without a username or a form", async () => {
  await using server = await startExample({ args: ["--store", "memory"] });
  for (
    const init of [{}, { body: new URLSearchParams({ username: " " }) }, {
      body: "{}",
      headers: { "content-type": "application/json" },
    }]
  ) {
    const response = await fetch(`${server.url}/login`, {
      method: "POST",
      ...init,
    });
    assert.equal(response.status, 400);
    assert.equal(await response.text(), "username is required\n");
  }
});

Deno.test("the example's --absolute flag ends sessions", async () => {
  await using server = await startExample({ args: ["--absolute", "1"] });
  const set = await fetch(`${server.url}/set`);
  await set.body?.cancel();
  const cookie = parseSetCookie(set.headers.get("set-cookie")!);
  assert.equal(cookie.attributes.get("max-age"), "1");
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const get = await fetch(`${server.url}/get`, {
    headers: { cookie: `sessionid=${cookie.value}` },
  });
  assert.match(await get.text(), /your session expired/);
});

Deno.test("the example's page escapes what the session holds", async () => {
  await using server = await startExample({ args: ["--store", "memory"] });
  const hostile = "<img src=x onerror=alert(1)>";
  const set = await fetch(
    `${server.url}/set?${new URLSearchParams({
      user: hostile,
      loginAt: hostile,
      [hostile]: "key",
    })}`,
  );
  await set.body?.cancel();
  const cookie = parseSetCookie(set.headers.get("set-cookie")!);
  const page = await (await fetch(`${server.url}/`, {
    headers: { cookie: `sessionid=${cookie.value}` },
  })).text();
  assert.doesNotMatch(page, /<img/);
  assert.match(
    page,
    /Logged in as <b>&#60;img src=x onerror=alert\(1\)&#62;<\/b> since &#60;img/,
  );
  assert.match(
    page,
    /<th scope="row">&#60;img src=x onerror=alert\(1\)&#62;<\/th>/,
  );
});

Deno.test("the example's --expire-at-browser-close flag sends a cookie without Max-Age or Expires", async () => {
  await using server = await startExample({
    args: ["--store", "memory", "--expire-at-browser-close"],
  });
  const set = await fetch(`${server.url}/set`);
  await set.body?.cancel();
  const cookie = parseSetCookie(set.headers.get("set-cookie")!);
  assert.equal(cookie.attributes.has("max-age"), false);
  assert.equal(cookie.attributes.has("expires"), false);
});

Deno.test("examples/hono.ts answers as examples/server.ts does", async () => {
  await using server = await startServer("examples/hono.ts", {
    permissions: ["--allow-net=127.0.0.1"],
    args: ["--store", "memory"],
  });
  const set = await fetch(`${server.url}/set?sname=Sita`);
  assert.equal(await set.text(), "User session is set\n");
  const cookie = `sessionid=${
    parseSetCookie(set.headers.get("set-cookie")!).value
  }`;
  const get = await fetch(`${server.url}/get`, { headers: { cookie } });
  assert.equal(await get.text(), "Welcome Sita\n");
  const data = await fetch(`${server.url}/data`, { headers: { cookie } });
  assert.deepEqual(await data.json(), { sname: "Sita" });
  const stranger = await fetch(`${server.url}/get`);
  assert.match(await stranger.text(), /no session/);
  for (
    const init of [{}, { body: new URLSearchParams({ username: " " }) }, {
      body: "{}",
      headers: { "content-type": "application/json" },
    }]
  ) {
    const login = await fetch(`${server.url}/login`, {
      method: "POST",
      ...init,
    });
    assert.equal(login.status, 400);
    assert.equal(await login.text(), "username is required\n");
  }
  const missing = await fetch(`${server.url}/nowhere`);
  assert.equal(missing.status, 404);
  assert.equal(await missing.text(), "Not found\n");
});

Deno.test("deno task start fetches nothing: not the npm packages the tests and benchmarks use", async () => {
  // A cache of its own, empty: whatever the task needs, it would download.
  const cache = await Deno.makeTempDir({ prefix: "start_cache_" });
  try {
    // deno task installs every npm package of the config and the lockfile
    // before it runs any task (denoland/deno#28999): deno.json keeps the
    // dev-only ones in "scopes" and its lockfile out of the tasks' way.
    await using server = await startDeno(
      ["task", "start", "--store", "memory", "--port=0"],
      { DENO_DIR: cache },
    );
    const get = await fetch(`${server.url}/get`);
    assert.equal(get.status, 200);
    await get.body?.cancel();
    const log = await server.stop();
    assert.doesNotMatch(log, /Download/);
    const downloaded = [];
    for (const dir of ["npm", "remote"]) {
      try {
        for await (const entry of Deno.readDir(`${cache}/${dir}`)) {
          downloaded.push(`${dir}/${entry.name}`);
        }
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    assert.deepEqual(downloaded, []);
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
