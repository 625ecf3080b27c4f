// Clients without cookies, over real HTTP: the header transport (the
// `header` option) and Django's test cookie.

import assert from "node:assert/strict";
import { type ExampleServer, startSessionServer } from "./example_server.ts";
import { SECRET_A } from "./helpers.ts";

const HEADER = "X-Session-Id";

const serve = (...args: string[]) => startSessionServer("memory", "", { args });

interface Answer {
  status: number;
  data: Record<string, unknown>;
  /** The session header sent back, or null. */
  token: string | null;
  setCookie: string | null;
  vary: string | null;
  cacheControl: string | null;
}

async function send(
  url: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(url, { headers });
  return {
    status: response.status,
    data: await response.json(),
    token: response.headers.get(HEADER),
    setCookie: response.headers.get("set-cookie"),
    vary: response.headers.get("vary"),
    cacheControl: response.headers.get("cache-control"),
  };
}

/** A client of the header transport: sends the header, empty at first, and keeps what comes back. */
class HeaderClient {
  token = "";
  constructor(readonly server: ExampleServer) {}
  async get(path: string): Promise<Answer> {
    const answer = await send(`${this.server.url}${path}`, {
      [HEADER]: this.token,
    });
    if (answer.token !== null) this.token = answer.token;
    return answer;
  }
}

for (const signed of [false, true]) {
  Deno.test(`the header transport over HTTP${signed ? ", signed" : ""}: a client without cookies gets, keeps and loses its session in the header`, async (t) => {
    await using server = await serve(
      "--header",
      HEADER,
      ...(signed ? ["--secret", SECRET_A] : []),
    );
    const client = new HeaderClient(server);
    const id = signed
      ? /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/
      : /^[A-Za-z0-9_-]{43}$/;

    await t.step(
      "a new session's id comes back in the header, and no cookie",
      async () => {
        const answer = await client.get("/set?user=ram");
        assert.match(answer.token ?? "", id);
        assert.equal(answer.setCookie, null);
        assert.equal(answer.vary, `Cookie, ${HEADER}`);
        assert.equal(answer.cacheControl, "private");
      },
    );

    await t.step(
      "the header opens it; a read sends no header back",
      async () => {
        const answer = await client.get("/data");
        assert.deepEqual(answer.data, { user: "ram" });
        assert.equal(answer.token, null);
        assert.equal(answer.vary, `Cookie, ${HEADER}`);
      },
    );

    await t.step(
      "a rotation hands back the new id; the old one opens nothing",
      async () => {
        const old = client.token;
        const answer = await client.get("/rotate?role=admin");
        assert.match(answer.token ?? "", id);
        assert.notEqual(answer.token, old);
        assert.deepEqual(
          (await send(`${server.url}/data`, { [HEADER]: old })).data,
          {},
        );
        assert.deepEqual((await client.get("/data")).data, {
          user: "ram",
          role: "admin",
        });
      },
    );

    await t.step(
      "a forged or truncated value opens nothing, and reaches no store",
      async () => {
        const before = await (await fetch(`${server.url}/stats`)).json();
        for (
          const forged of [
            client.token.slice(0, -1),
            `${client.token}x`,
            "A".repeat(43) + (signed ? ".x" : "!"),
            "B".repeat(43), // well-formed: looked up when unsigned
          ]
        ) {
          assert.deepEqual(
            (await send(`${server.url}/data`, { [HEADER]: forged })).data,
            {},
          );
        }
        const after = await (await fetch(`${server.url}/stats`)).json();
        assert.equal(
          after.gets - before.gets,
          signed ? 0 : 1,
          "only a well-formed id is looked up",
        );
      },
    );

    await t.step(
      "with both, the header's value is tried first; a cookie-only client gets a cookie",
      async () => {
        const cookieOnly = await send(`${server.url}/set?other=1`);
        assert.equal(cookieOnly.token, null);
        const cookie = cookieOnly.setCookie!.slice(
          0,
          cookieOnly.setCookie!.indexOf(";"),
        );
        const both = await send(`${server.url}/data`, {
          [HEADER]: client.token,
          cookie,
        });
        assert.deepEqual(both.data, { user: "ram", role: "admin" });
      },
    );

    await t.step(
      "logout answers an empty header; the old id opens nothing",
      async () => {
        const old = client.token;
        const answer = await client.get("/flush");
        assert.equal(answer.token, "");
        assert.equal(answer.setCookie, null);
        assert.deepEqual(
          (await send(`${server.url}/data`, { [HEADER]: old })).data,
          {},
        );
      },
    );
  });
}

Deno.test("Django's test cookie over HTTP: a browser that keeps cookies passes, one that refuses them does not", async () => {
  await using server = await serve();
  const set = await fetch(`${server.url}/test-cookie?set`);
  assert.deepEqual(await set.json(), { worked: true });
  const cookie = set.headers.get("set-cookie")!.split(";")[0];
  const keeps = await fetch(`${server.url}/test-cookie`, {
    headers: { cookie },
  });
  assert.deepEqual(await keeps.json(), { worked: true });
  const refuses = await fetch(`${server.url}/test-cookie`);
  assert.deepEqual(await refuses.json(), { worked: false });
});
