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

/** The session cookie's value that `response` sets; its body discarded. */
async function cookieOf(response: Response): Promise<string> {
  await response.body?.cancel();
  return parseSetCookie(response.headers.get("set-cookie")!).value;
}

/** Logs in as `username` as a browser does: the login page, then its form. */
async function logIn(url: string, username: string): Promise<string> {
  const anonymous = await cookieOf(await fetch(`${url}/login`));
  return await cookieOf(
    await fetch(`${url}/login`, {
      method: "POST",
      body: new URLSearchParams({ username }),
      headers: { cookie: `sessionid=${anonymous}` },
      redirect: "manual",
    }),
  );
}

/** The home page as the holder of the session cookie `value` sees it. */
async function homeFor(url: string, value: string): Promise<string> {
  const response = await fetch(`${url}/`, {
    headers: { cookie: `sessionid=${value}` },
  });
  return await response.text();
}

Deno.test("the example's login page: login rotates the id, logout clears the cookie", async () => {
  await using server = await startExample();
  // The home page stores nothing for a visitor; the login page sets
  // Django's test cookie, which the login checks.
  const home = await fetch(`${server.url}/`);
  assert.match(await home.text(), /<a href="\/login">Log in<\/a>/);
  assert.equal(home.headers.get("set-cookie"), null);
  const anonymous = await cookieOf(await fetch(`${server.url}/login`));

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

  const page = await homeFor(server.url, loggedIn);
  assert.match(page, /Logged in as <b>Ram &#60;b&#62;<\/b>/);
  const again = await fetch(`${server.url}/login`, {
    headers: { cookie: `sessionid=${loggedIn}` },
    redirect: "manual",
  });
  await again.body?.cancel();
  assert.equal(again.status, 303, "the login page sends a user home");
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

Deno.test("the example's login tells a browser that sent no cookie back that cookies are off", async () => {
  await using server = await startExample({ args: ["--store", "memory"] });
  for (const cookie of [undefined, "sessionid=forged"]) {
    const response = await fetch(`${server.url}/login`, {
      method: "POST",
      body: new URLSearchParams({ username: "Ram" }),
      headers: cookie === undefined ? {} : { cookie },
      redirect: "manual",
    });
    assert.equal(response.status, 400);
    const page = await response.text();
    assert.match(
      page,
      /<p id="login-error"[^>]*>Your browser did not send back the cookie/,
    );
    assert.match(page, /Not logged in/);
  }
  // A session that did not come from the login page (it never set the test
  // cookie) is refused too; the same client after the login page logs in.
  const set = await cookieOf(await fetch(`${server.url}/set`));
  const refused = await fetch(`${server.url}/login`, {
    method: "POST",
    body: new URLSearchParams({ username: "Ram" }),
    headers: { cookie: `sessionid=${set}` },
    redirect: "manual",
  });
  await refused.body?.cancel();
  assert.equal(refused.status, 400);
  await (await fetch(`${server.url}/login`, {
    headers: { cookie: `sessionid=${set}` },
  })).body?.cancel();
  const loggedIn = await cookieOf(
    await fetch(`${server.url}/login`, {
      method: "POST",
      body: new URLSearchParams({ username: "Ram" }),
      headers: { cookie: `sessionid=${set}` },
      redirect: "manual",
    }),
  );
  const page = await homeFor(server.url, loggedIn);
  assert.match(page, /Logged in as <b>Ram<\/b>/);
  assert.doesNotMatch(page, /testcookie/, "the test cookie served, and went");
});

for (const store of ["memory", "kv", "file"]) {
  Deno.test(`the example's device list and "log out other devices" (--store ${store})`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      await using server = await startExample({
        permissions: [
          "--allow-net=127.0.0.1",
          `--allow-read=${dir}`,
          `--allow-write=${dir}`,
        ],
        args: [
          "--store",
          store,
          "--kv-path",
          `${dir}/sessions.kv`,
          "--dir",
          dir,
        ],
      });
      const laptop = await logIn(server.url, "ram");
      const phone = await logIn(server.url, "ram");
      const sita = await logIn(server.url, "sita");
      const page = await homeFor(server.url, laptop);
      assert.match(page, /Signed in on 2 devices\./);
      assert.equal(page.match(/<b>This browser<\/b>/g)?.length, 1);
      assert.match(page, /Log out other devices/);
      assert.match(await homeFor(server.url, sita), /Signed in on 1 device\./);
      assert.doesNotMatch(await homeFor(server.url, sita), /Log out other/);

      const others = await fetch(`${server.url}/logout-others`, {
        method: "POST",
        headers: { cookie: `sessionid=${laptop}` },
        redirect: "manual",
      });
      await others.body?.cancel();
      assert.equal(others.status, 303);
      assert.match(await homeFor(server.url, phone), /Not logged in/);
      assert.match(
        await homeFor(server.url, laptop),
        /Signed in on 1 device\./,
      );
      assert.match(await homeFor(server.url, sita), /Logged in as <b>sita/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

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
