import assert from "node:assert/strict";
import { parseSetCookie } from "./helpers.ts";

const root = new URL("../", import.meta.url);

/**
 * Starts the example exactly as README's `deno task start` does (the same
 * permissions), on a free port; stops it when disposed.
 */
export async function startExample(...args: string[]) {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", root)),
  );
  const [deno, ...taskArgs] = (config.tasks.start as string).split(" ");
  assert.equal(deno, "deno");
  const child = new Deno.Command(Deno.execPath(), {
    args: [...taskArgs, "--port", "0", ...args],
    cwd: root,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  while (!output.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`the example exited: ${output}`);
    output += value;
  }
  const base = output.match(/Listening on (http:\/\/127\.0\.0\.1:\d+)\//)![1];
  return {
    base,
    async [Symbol.asyncDispose]() {
      child.kill();
      await lines.cancel();
      await child.status;
    },
  };
}

Deno.test("the example server over real HTTP: /set, then /get with the cookie the client received", async () => {
  await using server = await startExample();
  const set = await fetch(`${server.base}/set`);
  assert.equal(await set.text(), "User session is set\n");
  const cookie = parseSetCookie(set.headers.get("set-cookie")!);
  assert.equal(cookie.name, "sessionid");

  const get = await fetch(`${server.base}/get`, {
    headers: { cookie: `sessionid=${cookie.value}` },
  });
  assert.equal(await get.text(), "Welcome Ram\n");

  const stranger = await fetch(`${server.base}/get`);
  assert.equal(stranger.status, 200);
  assert.match(await stranger.text(), /no session/);
});

Deno.test("the example's login page: login rotates the id, logout clears the cookie", async () => {
  await using server = await startExample();
  const first = await fetch(`${server.base}/set`);
  await first.body?.cancel();
  const anonymous = parseSetCookie(first.headers.get("set-cookie")!).value;

  const login = await fetch(`${server.base}/login`, {
    method: "POST",
    body: new URLSearchParams({ username: "Ram <b>" }),
    headers: { cookie: `sessionid=${anonymous}` },
    redirect: "manual",
  });
  await login.body?.cancel();
  assert.equal(login.status, 303);
  const loggedIn = parseSetCookie(login.headers.get("set-cookie")!).value;
  assert.notEqual(loggedIn, anonymous, "a new id after login");

  const page = await (await fetch(`${server.base}/`, {
    headers: { cookie: `sessionid=${loggedIn}` },
  })).text();
  assert.match(page, /Logged in as <b>Ram &#60;b&#62;<\/b>/);
  const old = await (await fetch(`${server.base}/`, {
    headers: { cookie: `sessionid=${anonymous}` },
  })).text();
  assert.match(old, /Not logged in/);

  const logout = await fetch(`${server.base}/logout`, {
    method: "POST",
    headers: { cookie: `sessionid=${loggedIn}` },
    redirect: "manual",
  });
  await logout.body?.cancel();
  assert.equal(
    parseSetCookie(logout.headers.get("set-cookie")!).attributes.get("max-age"),
    "0",
  );
  const after = await (await fetch(`${server.base}/`, {
    headers: { cookie: `sessionid=${loggedIn}` },
  })).text();
  assert.match(after, /Not logged in/);
});

Deno.test("the example's --absolute flag ends sessions", async () => {
  await using server = await startExample("--absolute", "1");
  const set = await fetch(`${server.base}/set`);
  await set.body?.cancel();
  const cookie = parseSetCookie(set.headers.get("set-cookie")!);
  assert.equal(cookie.attributes.get("max-age"), "1");
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const get = await fetch(`${server.base}/get`, {
    headers: { cookie: `sessionid=${cookie.value}` },
  });
  assert.match(await get.text(), /your session expired/);
});
