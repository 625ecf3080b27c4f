// callHandler (src/call_handler.ts): a wrapped handler called without a server.

import assert from "node:assert/strict";
import { getSession, withSession } from "../mod.ts";
import { callHandler } from "../testing.ts";
import { parseSetCookie, SpyStore } from "./helpers.ts";

Deno.test("callHandler: a path is on http://localhost; the handler gets the info Deno.serve would give", async () => {
  const calls: Array<{ request: Request; info: Deno.ServeHandlerInfo }> = [];
  let completed = false;
  let completedWhileHandling = false;
  const response = await callHandler(
    async (request, info) => {
      calls.push({ request, info });
      info.completed.then(() => (completed = true));
      await new Promise((resolve) => setTimeout(resolve, 0));
      completedWhileHandling = completed;
      return new Response("ok");
    },
    "/login?next=/",
    { method: "POST" },
  );
  assert.equal(await response.text(), "ok");
  assert.equal(calls.length, 1);
  const [{ request, info }] = calls;
  assert.equal(request.url, "http://localhost/login?next=/");
  assert.equal(request.method, "POST");
  assert.deepEqual(info.remoteAddr, {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 49152,
  });
  assert.equal(completedWhileHandling, false);
  await info.completed;
  assert.equal(completed, true, "completed resolves once answered");
});

Deno.test("callHandler: a Request is passed as it is, a URL or an absolute address as given", async () => {
  const handler = (request: Request) => new Response(request.url);
  const request = new Request("https://example.com/a");
  const passed: Request[] = [];
  await callHandler((r) => {
    passed.push(r);
    return new Response();
  }, request);
  assert.equal(
    passed[0],
    request,
    "the same object: getSession(request) works",
  );
  const text = async (input: string | URL) =>
    await (await callHandler(handler, input)).text();
  assert.equal(
    await text(new URL("https://example.com/b")),
    "https://example.com/b",
  );
  assert.equal(await text("https://example.com/c"), "https://example.com/c");
});

Deno.test("callHandler: a wrapped handler's session round-trips through the cookie", async () => {
  const handler = withSession(async (req) => {
    const session = await getSession<{ n: number }>(req);
    const n = (session.get("n") ?? 0) + 1;
    session.set("n", n);
    return new Response(String(n));
  }, { store: new SpyStore() });
  const first = await callHandler(handler, "/");
  assert.equal(await first.text(), "1");
  const { value } = parseSetCookie(first.headers.get("set-cookie")!);
  const second = await callHandler(handler, "/", {
    headers: { cookie: `sessionid=${value}` },
  });
  assert.equal(await second.text(), "2");
});

Deno.test("callHandler: a handler that answers with something other than a Response is refused, as Deno.serve refuses it", async () => {
  await assert.rejects(
    callHandler(() => ({ ok: true }) as unknown as Response, "/"),
    {
      name: "TypeError",
      message:
        "callHandler: the handler returned a plain object instead of a Response, which Deno.serve refuses",
    },
  );
});
