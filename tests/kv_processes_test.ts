// Two real server processes (examples/server.ts --store kv) over one KV file.

import assert from "node:assert/strict";
import { type ExampleServer, startExample } from "./example_server.ts";

/** The example on KV with the least permissions it needs: the loopback and the KV file. */
function startServer(kvPath: string): Promise<ExampleServer> {
  return startExample({
    permissions: [
      "--allow-net=127.0.0.1",
      `--allow-read=${kvPath}`,
      `--allow-write=${kvPath}`,
    ],
    args: ["--store=kv", `--kv-path=${kvPath}`],
  });
}

/** A request with the session cookie; the body is always consumed. */
async function request(
  url: string,
  cookie: string | null,
  init: RequestInit = {},
): Promise<{ status: number; text: string; cookie: string | null }> {
  const headers = new Headers(init.headers);
  if (cookie !== null) headers.set("cookie", cookie);
  const response = await fetch(url, { ...init, headers, redirect: "manual" });
  const text = await response.text();
  const setCookie = response.headers.get("set-cookie");
  if (setCookie === null) return { status: response.status, text, cookie };
  const pair = setCookie.slice(0, setCookie.indexOf(";"));
  return {
    status: response.status,
    text,
    cookie: pair.endsWith("=") ? null : pair,
  };
}

Deno.test("two server processes share one KV file without losing updates", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kvstore-processes-" });
  const kvPath = `${dir}/sessions.kv`;
  const servers: ExampleServer[] = [];
  try {
    servers.push(
      ...await Promise.all([startServer(kvPath), startServer(kvPath)]),
    );
    const [a, b] = servers.map((server) => `${server.url}/`);

    // Set through A, read through B.
    const set = await request(`${a}set?sname=Ram`, null);
    assert.equal(set.text, "User session is set\n");
    const cookie = set.cookie;
    assert.notEqual(cookie, null);
    assert.deepEqual(
      JSON.parse((await request(`${b}data`, cookie)).text),
      { sname: "Ram" },
    );

    // Changed through B, read through A.
    await request(`${b}set?city=Pune`, cookie);
    assert.deepEqual(
      JSON.parse((await request(`${a}data`, cookie)).text),
      { sname: "Ram", city: "Pune" },
    );

    // Interleaved: each round, two requests to each server at once, each
    // setting its own key on the same session, beside other users' sessions
    // being created on both. None may be lost.
    const expected: Record<string, string> = { sname: "Ram", city: "Pune" };
    for (let round = 0; round < 8; round++) {
      const writes = [a, b, a, b].map((url, i) => {
        expected[`k${round}_${i}`] = `${url === a ? "A" : "B"}${round}`;
        return request(
          `${url}set?k${round}_${i}=${url === a ? "A" : "B"}${round}`,
          cookie,
        );
      });
      const others = [a, b, a, b].map((url) =>
        request(`${url}set?other=${round}`, null)
      );
      const answers = await Promise.all([...writes, ...others]);
      for (const answer of answers) {
        assert.equal(answer.status, 200, answer.text);
        assert.equal(answer.text, "User session is set\n");
      }
    }
    for (const url of [a, b]) {
      assert.deepEqual(
        JSON.parse((await request(`${url}data`, cookie)).text),
        expected,
      );
    }

    // Flushed through B: gone for A too.
    const logout = await request(`${b}logout`, cookie, { method: "POST" });
    assert.equal(logout.status, 303);
    assert.equal(logout.cookie, null);
    assert.deepEqual(JSON.parse((await request(`${a}data`, cookie)).text), {});
  } finally {
    const logs = await Promise.all(servers.map((server) => server.stop()));
    for (const log of logs) assert.equal(log, "", log);
    await Deno.remove(dir, { recursive: true });
  }
});
