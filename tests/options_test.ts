import assert from "node:assert/strict";
import { type SessionOptions, type SessionStore, withSession } from "../mod.ts";
import { SECRET_A, SECRET_B } from "./helpers.ts";

const handler = () => new Response("ok");

/** A store of the three-method interface, without `listUser`. */
const storeWithoutIndex: SessionStore = {
  get: () => Promise.resolve(null),
  set: () => Promise.resolve(null),
  delete: () => Promise.resolve(),
};

Deno.test("invalid options throw a TypeError from withSession that names the option", () => {
  const bad: Array<[SessionOptions, RegExp]> = [
    [{ absoluteTimeout: -1 }, /absoluteTimeout/],
    [{ absoluteTimeout: 0 }, /absoluteTimeout/],
    [{ absoluteTimeout: Infinity }, /absoluteTimeout/],
    [{ absoluteTimeout: NaN }, /absoluteTimeout/],
    [{ absoluteTimeout: 400 * 86_400 + 1 }, /more than 400 days/],
    [{ idleTimeout: -5 }, /idleTimeout/],
    [{ idleTimeout: Infinity }, /idleTimeout/],
    [{ idleTimeout: 60, touchInterval: -1 }, /touchInterval/],
    [{ idleTimeout: 60, touchInterval: 60 }, /touchInterval/],
    [{ touchInterval: 10 }, /touchInterval/],
    [{ secrets: [] }, /secrets/],
    [{ secrets: [""] }, /secrets\[0\] is too weak for an HMAC key \(0 bytes\)/],
    [{ secrets: [SECRET_A, ""] }, /secrets\[1\] is too weak/],
    [
      { secrets: ["x"] },
      /\(1 bytes\): use at least 32 random bytes, e\.g\. the output of deno eval/,
    ],
    [{ secrets: ["a-31-byte-secret-is-still-weak!"] }, /31 bytes/],
    [{ secrets: [" ".repeat(64)] }, /64 bytes, too few distinct characters/],
    [{ secrets: ["abab".repeat(16)] }, /too few distinct characters/],
    [{ secrets: [42 as unknown as string] }, /secrets\[0\] must be a string/],
    [{ cookie: { sameSite: "None" } }, /sameSite/],
    [{ cookie: { sameSite: "None", secure: "auto" } }, /sameSite/],
    [{ cookie: { sameSite: "Sometimes" as "Lax" } }, /sameSite/],
    [{ cookie: { name: "__Host-sid", domain: "example.com" } }, /__Host-/],
    [{ cookie: { name: "__Host-sid", path: "/app" } }, /__Host-/],
    [{ cookie: { name: "__Secure-sid", secure: false } }, /Secure/],
    [{ cookie: { name: "bad name" } }, /cookie\.name/],
    [{ cookie: { name: "" } }, /cookie\.name/],
    [{ cookie: { name: "a;b" } }, /cookie\.name/],
    [{ cookie: { path: "app" } }, /cookie\.path/],
    [{ cookie: { path: "/a;b" } }, /cookie\.path/],
    [{ cookie: { domain: "exa mple.com" } }, /cookie\.domain/],
    [{ cookie: { domain: "a.com; Secure" } }, /cookie\.domain/],
    [{ cookie: { secure: "yes" as unknown as boolean } }, /cookie\.secure/],
    [{ cookie: { partitioned: true, secure: false } }, /partitioned/],
    [{ idleTimout: 30 } as SessionOptions, /unknown option idleTimout/],
    [
      { cookie: { maxAge: 5 } } as SessionOptions,
      /unknown option cookie\.maxAge/,
    ],
    [{ cookie: { partitioned: true } }, /partitioned/],
    [{ absoluteTimeout: "60" as unknown as number }, /got "60"/],
    [{ store: {} as never }, /store must implement SessionStore/],
    [{ cookie: { httpOnly: "no" as unknown as boolean } }, /cookie\.httpOnly/],
    [
      { expireAtBrowserClose: "yes" as unknown as boolean },
      /expireAtBrowserClose/,
    ],
    [{ saveEveryRequest: 1 as unknown as boolean }, /saveEveryRequest/],
    [null as unknown as SessionOptions, /options must be an object/],
    ["x" as unknown as SessionOptions, /options must be an object/],
    [{ cookie: null as never }, /cookie must be an object/],
    [{ now: 5 as unknown as () => number }, /now/],
    [{ conflictTimeout: 0 }, /conflictTimeout must be a finite number/],
    [{ conflictTimeout: Infinity }, /conflictTimeout/],
    [
      { storeTimeout: 0 },
      /storeTimeout must be a finite number of seconds > 0/,
    ],
    [{ storeTimeout: -1 }, /storeTimeout/],
    [{ storeTimeout: "10" as unknown as number }, /storeTimeout.*got "10"/],
    [{ trustProxy: "yes" as unknown as boolean }, /trustProxy/],
    [{ userKey: "" }, /userKey must be a non-empty string/],
    [{ userKey: 7 as unknown as string }, /userKey must be a non-empty string/],
    [
      { userKey: "userId", store: storeWithoutIndex },
      /userKey needs a store that files sessions by user/,
    ],
    [
      { rotationGrace: -1 },
      /rotationGrace must be a finite number of seconds >= 0/,
    ],
    [{ rotationGrace: NaN }, /rotationGrace/],
    [{ onEvent: "log" as unknown as () => void }, /onEvent must be a function/],
    [{ header: "" }, /header must be a header name/],
    [{ header: "X Session" }, /header must be a header name/],
    [
      { header: "Cookie" },
      /header "Cookie" is a header with a meaning of its own/,
    ],
    [{ header: "authorization" }, /a meaning of its own/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => withSession(handler, options),
      (error: Error) =>
        error instanceof TypeError && message.test(error.message),
      JSON.stringify(options),
    );
  }
});

Deno.test("withSession refuses a handler that is not a function", () => {
  assert.throws(
    () => withSession(undefined as unknown as Deno.ServeHandler),
    (error: Error) =>
      error instanceof TypeError &&
      /handler must be a function/.test(error.message),
  );
});

Deno.test("valid options are accepted", () => {
  const good: SessionOptions[] = [
    {},
    { absoluteTimeout: 1, idleTimeout: 0.5, touchInterval: 0 },
    { idleTimeout: null },
    { secrets: [SECRET_A, SECRET_B] },
    { secrets: ["correct horse battery staple, and then some"] },
    { cookie: { name: "__Host-sid" } },
    { cookie: { sameSite: "None", secure: true, partitioned: true } },
    { cookie: { domain: ".example.com", path: "/app" } },
    { expireAtBrowserClose: true, saveEveryRequest: true },
    { conflictTimeout: 0.5, storeTimeout: 0.5, rotationGrace: 0 },
    { storeTimeout: null, trustProxy: true, rotationGrace: 5 },
    { userKey: "userId", onEvent: () => {}, header: "X-Session-Id" },
  ];
  for (const options of good) withSession(handler, options);
});
