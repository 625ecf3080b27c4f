import assert from "node:assert/strict";
import { type ExampleServer, startExample } from "./example_server.ts";

/** The example on files with the least permissions it needs: the loopback and the directory. */
function startServer(dir: string): Promise<ExampleServer> {
  return startExample({
    permissions: [
      "--allow-net=127.0.0.1",
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
    ],
    args: ["--store", "file", "--dir", dir],
  });
}

async function text(response: Response): Promise<string> {
  const body = await response.text();
  assert.equal(response.status < 400, true, `${response.status}: ${body}`);
  return body;
}

Deno.test("two server processes sharing a FileStore directory lose no update", async () => {
  const dir = await Deno.makeTempDir({ prefix: "file_servers_" });
  const servers: ExampleServer[] = [];
  try {
    servers.push(await startServer(dir));
    servers.push(await startServer(dir));
    const [a, b] = servers;

    const first = await fetch(`${a.url}/set?start=1`);
    assert.equal(await text(first), "User session is set\n");
    const cookie = (first.headers.get("set-cookie") ?? "").split(";")[0];
    assert.match(cookie, /^sessionid=[A-Za-z0-9_-]{43}$/);
    const headers = { cookie };

    // Each round, one request to each process, at once, on the same
    // session: every write must survive the other's.
    const rounds = 15;
    const expected: Record<string, string> = { start: "1" };
    for (let round = 0; round < rounds; round++) {
      const bodies = await Promise.all([
        fetch(`${a.url}/set?a${round}=${round}`, { headers }).then(text),
        fetch(`${b.url}/set?b${round}=${round}`, { headers }).then(text),
      ]);
      assert.deepEqual(bodies, [
        "User session is set\n",
        "User session is set\n",
      ]);
      expected[`a${round}`] = String(round);
      expected[`b${round}`] = String(round);
    }
    for (const server of [a, b]) {
      const data = await fetch(`${server.url}/data`, { headers });
      assert.deepEqual(JSON.parse(await text(data)), expected);
    }
    const files = [];
    for await (const entry of Deno.readDir(dir)) files.push(entry.name);
    assert.equal(files.length, 1, `files: ${files}`);
    assert.match(files[0], /^[0-9a-f]{64}$/);

    // A logout through one process holds in the other.
    const logout = await fetch(`${b.url}/logout`, {
      method: "POST",
      headers,
      redirect: "manual",
    });
    await text(logout);
    assert.equal(logout.status, 303);
    const after = await fetch(`${a.url}/data`, { headers });
    assert.deepEqual(JSON.parse(await text(after)), {});
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
  } finally {
    for (const server of servers) await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
