import assert from "node:assert/strict";
import { startExample } from "./example_server.ts";
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
