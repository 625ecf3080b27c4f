import assert from "node:assert/strict";
import {
  getSession,
  type Session,
  type SessionOptions,
  withSession,
} from "../mod.ts";
import { Client, parseSetCookie, SpyStore } from "./helpers.ts";

const MINUTE = 60_000;

/** A session app with a hand-driven clock; /set?k=v writes, /get reads, /rotate rotates, /expire?... calls setExpiry. */
function setup(options: SessionOptions = {}) {
  const clock = { now: Date.UTC(2026, 0, 1) };
  const store = new SpyStore();
  let last: Session | null = null;
  const handler = withSession(async (req) => {
    const url = new URL(req.url);
    const session = await getSession(req);
    last = session;
    if (url.pathname === "/set") {
      for (const [k, v] of url.searchParams) session.set(k, v);
    } else if (url.pathname === "/rotate") {
      await session.rotate();
    } else if (url.pathname === "/expire") {
      const value = url.searchParams.get("value")!;
      session.setExpiry(
        value === "null"
          ? null
          : value.startsWith("date:")
          ? new Date(Number(value.slice(5)))
          : Number(value),
      );
    }
    return Response.json({
      data: Object.fromEntries(session.entries()),
      wasExpired: session.wasExpired,
      isNew: session.isNew,
      expiresAt: session.expiresAt?.getTime() ?? null,
      absoluteExpiresAt: session.absoluteExpiresAt?.getTime() ?? null,
      idleExpiresAt: session.idleExpiresAt?.getTime() ?? null,
    });
  }, { store, now: () => clock.now, ...options });
  const client = new Client(handler);
  const read = async (path = "/get") => await (await client.get(path)).json();
  return { clock, store, client, read, session: () => last! };
}

Deno.test("absolute timeout: the session ends absoluteTimeout after creation, whatever the activity", async () => {
  const { clock, store, read } = setup({ absoluteTimeout: 60 });
  await read("/set?user=ram");
  for (let i = 0; i < 5; i++) {
    clock.now += 10_000;
    assert.deepEqual((await read("/set?n=" + i)).data.user, "ram");
  }
  clock.now += 9_999; // 59.999 s after creation
  assert.equal((await read()).data.user, "ram");
  clock.now += 1;
  const expired = await read();
  assert.deepEqual(expired.data, {});
  assert.equal(expired.wasExpired, true);
  assert.equal(expired.isNew, true);
  assert.equal(store.keys().length, 0, "the expired record was deleted");
});

Deno.test("rotate() keeps the absolute deadline: a login does not extend a session's life", async () => {
  const { clock, read, client } = setup({ absoluteTimeout: 60 });
  await read("/set?cart=apple");
  const created = clock.now;
  clock.now += 30_000;
  const before = client.cookie;
  const rotated = await read("/rotate");
  assert.notEqual(client.cookie, before, "a new id");
  assert.equal(rotated.absoluteExpiresAt, created + 60_000);
  clock.now = created + 60_000;
  const expired = await read();
  assert.deepEqual([expired.data, expired.wasExpired], [{}, true]);
});

Deno.test("expiry is decided from the record's timestamps, not from the store still holding it", async () => {
  const { clock, store, read } = setup({ absoluteTimeout: 60 });
  await read("/set?user=ram");
  clock.now += 61_000;
  // The store never saw the clock move and still returns the record.
  assert.equal(store.keys().length, 1);
  assert.equal((await read()).wasExpired, true);
});

Deno.test("idle timeout: a session nobody reads for idleTimeout expires", async () => {
  const { clock, read } = setup({ idleTimeout: 30 * 60, touchInterval: 60 });
  await read("/set?user=ram");
  clock.now += 30 * MINUTE - 1;
  assert.equal((await read()).data.user, "ram");
  clock.now += 30 * MINUTE;
  const expired = await read();
  assert.equal(expired.wasExpired, true);
  assert.deepEqual(expired.data, {});
});

Deno.test("touch-on-read: reads keep the session alive, writing at most once per touchInterval", async () => {
  const { clock, store, read } = setup({ idleTimeout: 600, touchInterval: 60 });
  await read("/set?user=ram");
  const writes = store.sets;
  // Read every 10 s for 30 minutes: three times idleTimeout.
  for (let i = 0; i < 180; i++) {
    clock.now += 10_000;
    assert.equal((await read()).data.user, "ram", `read ${i}`);
  }
  const touches = store.sets - writes;
  assert.ok(touches <= 30, `at most one write per 60 s: ${touches}`);
  assert.ok(touches >= 25, `the idle deadline was refreshed: ${touches}`);
});

Deno.test("a session read at least every idleTimeout - touchInterval seconds never idles out", async () => {
  const idle = 300, touch = 60;
  const { clock, read } = setup({ idleTimeout: idle, touchInterval: touch });
  await read("/set?user=ram");
  // The worst case: a read just before a touch is due (no write), then the
  // longest allowed gap.
  for (let i = 0; i < 25; i++) {
    clock.now += touch * 1000 - 1;
    assert.equal((await read()).data.user, "ram", `short gap ${i}`);
    clock.now += (idle - touch) * 1000;
    assert.equal((await read()).data.user, "ram", `long gap ${i}`);
  }
  // The bound is tight: the same pattern with a gap 2 ms longer idles out.
  clock.now += touch * 1000 - 1;
  await read();
  clock.now += (idle - touch) * 1000 + 2;
  assert.equal((await read()).wasExpired, true);
});

Deno.test("without idleTimeout a read never writes", async () => {
  const { clock, store, read } = setup();
  await read("/set?user=ram");
  const writes = store.sets;
  for (let i = 0; i < 20; i++) {
    clock.now += 3_600_000;
    await read();
  }
  assert.equal(store.sets, writes);
});

Deno.test("the default touchInterval is a tenth of idleTimeout, at most 60 s", async () => {
  const small = setup({ idleTimeout: 30 });
  await small.read("/set?a=1");
  const writes = small.store.sets;
  small.clock.now += 2_999;
  await small.read();
  assert.equal(small.store.sets, writes);
  small.clock.now += 1;
  await small.read();
  assert.equal(small.store.sets, writes + 1);

  const large = setup({ idleTimeout: 3600 });
  await large.read("/set?a=1");
  const before = large.store.sets;
  large.clock.now += 60_000;
  await large.read();
  assert.equal(large.store.sets, before + 1);
});

Deno.test("expiresAt is the earlier of the absolute and the idle deadline; null while new and empty", async () => {
  const { clock, read } = setup({
    absoluteTimeout: 3600,
    idleTimeout: 600,
    touchInterval: 60,
  });
  const start = clock.now;
  assert.equal((await read()).expiresAt, null);
  assert.equal((await read("/set?a=1")).expiresAt, start + 600_000);
  clock.now += 30_000; // no touch due: the stored idle deadline stands
  assert.equal((await read()).expiresAt, start + 600_000);
  clock.now += 30_000; // touch due: refreshed from now
  assert.equal((await read()).expiresAt, clock.now + 600_000);
  for (let i = 0; i < 6; i++) {
    clock.now += 500_000;
    await read();
  }
  assert.equal(
    (await read()).expiresAt,
    start + 3_600_000,
    "capped by the absolute deadline",
  );
});

Deno.test("absoluteExpiresAt and idleExpiresAt: each deadline on its own, expiresAt the earlier", async () => {
  const { clock, read } = setup({
    absoluteTimeout: 3600,
    idleTimeout: 600,
    touchInterval: 60,
  });
  const start = clock.now;
  const fresh = await read();
  assert.deepEqual(
    [fresh.absoluteExpiresAt, fresh.idleExpiresAt],
    [null, null],
    "null while new and empty",
  );
  const created = await read("/set?a=1");
  assert.equal(created.absoluteExpiresAt, start + 3_600_000);
  assert.equal(created.idleExpiresAt, start + 600_000);
  clock.now += 30_000; // no touch due: the stored idle deadline stands
  assert.equal((await read()).idleExpiresAt, start + 600_000);
  clock.now += 30_000; // touch due: refreshed from now
  const touched = await read();
  assert.equal(touched.idleExpiresAt, clock.now + 600_000);
  assert.equal(
    touched.absoluteExpiresAt,
    start + 3_600_000,
    "activity never moves it",
  );
  for (let i = 0; i < 6; i++) {
    clock.now += 500_000;
    await read();
  }
  const late = await read();
  assert.ok(late.idleExpiresAt > late.absoluteExpiresAt);
  assert.equal(late.expiresAt, late.absoluteExpiresAt);
  const at = clock.now + 5_000;
  const set = await read(`/expire?value=date:${at}`);
  assert.equal(set.absoluteExpiresAt, at, "setExpiry sets it");
});

Deno.test("idleExpiresAt is null without idleTimeout; expiresAt is then the absolute deadline", async () => {
  const { clock, read } = setup({ absoluteTimeout: 60 });
  const created = await read("/set?a=1");
  assert.equal(created.idleExpiresAt, null);
  assert.equal(created.absoluteExpiresAt, clock.now + 60_000);
  assert.equal(created.expiresAt, created.absoluteExpiresAt);
});

Deno.test("setExpiry(seconds) replaces the absolute deadline, longer or shorter", async () => {
  const { clock, read } = setup({ absoluteTimeout: 60 });
  await read("/set?user=ram");
  await read("/expire?value=3600"); // remember me
  clock.now += 120_000;
  assert.equal((await read()).data.user, "ram");
  await read("/expire?value=10");
  clock.now += 10_000;
  assert.equal((await read()).wasExpired, true);
});

Deno.test("setExpiry(Date) sets the deadline; a Date already past ends the session now", async () => {
  const { clock, store, client, read } = setup();
  await read("/set?user=ram");
  const at = clock.now + 5_000;
  assert.equal((await read(`/expire?value=date:${at}`)).expiresAt, at);
  const response = await client.get(`/expire?value=date:${clock.now - 1}`);
  assert.match(response.headers.get("set-cookie")!, /Max-Age=0/);
  assert.equal(store.keys().length, 0);
});

Deno.test("setExpiry(null) restores the default deadline", async () => {
  const { clock, read } = setup({ absoluteTimeout: 60 });
  const start = clock.now;
  await read("/set?user=ram");
  await read("/expire?value=3600");
  assert.equal((await read("/expire?value=null")).expiresAt, start + 60_000);
});

Deno.test("setExpiry rejects what it cannot mean", async () => {
  const { read, session } = setup();
  await read("/set?user=ram");
  for (
    const bad of [
      -1,
      NaN,
      Infinity,
      new Date("nope"),
      "10" as unknown as number,
    ]
  ) {
    assert.throws(() => session().setExpiry(bad), TypeError);
  }
  assert.throws(
    () => session().setExpiry("10" as unknown as number),
    /got "10"/,
  );
});

Deno.test("setExpiry refuses a lifetime no cookie can have, and the session is left as it was", async () => {
  const { clock, read, client, session } = setup();
  await read("/set?user=ram");
  const before = session().expiresAt;
  const DAY = 86_400;
  for (
    const bad of [
      1e306,
      Number.MAX_SAFE_INTEGER,
      400 * DAY + 1,
      new Date(8.64e15),
      new Date(clock.now + (400 * DAY + 1) * 1000),
    ]
  ) {
    assert.throws(
      () => session().setExpiry(bad),
      (error: Error) =>
        error instanceof RangeError &&
        /at most 400 days \(RFC 6265bis\)/.test(error.message),
      String(bad),
    );
  }
  assert.deepEqual(session().expiresAt, before);
  // The longest one allowed works, with a finite Max-Age and a real date.
  const response = await client.get(`/expire?value=${400 * DAY}`);
  const cookie = parseSetCookie(response.headers.get("set-cookie")!);
  assert.equal(cookie.attributes.get("max-age"), String(400 * DAY));
  assert.equal(
    cookie.attributes.get("expires"),
    new Date(clock.now + 400 * DAY * 1000).toUTCString(),
  );
});

Deno.test("setExpiry and expireAtBrowserClose combine as Django's get_expire_at_browser_close()", async (t) => {
  const HOUR = 3_600_000;
  // [option, what the request calls, persistent cookie expected, its Max-Age]
  const cases: Array<[boolean, string, boolean, string | undefined]> = [
    [false, "none", true, "1209600"],
    [false, "3600", true, "3600"],
    [false, "date", true, "7200"],
    [false, "0", false, undefined],
    [false, "null", true, "1209600"],
    [true, "none", false, undefined],
    [true, "3600", true, "3600"],
    [true, "date", true, "7200"],
    [true, "0", false, undefined],
    [true, "null", false, undefined],
  ];
  for (const [expireAtBrowserClose, call, persistent, maxAge] of cases) {
    await t.step(
      `expireAtBrowserClose ${expireAtBrowserClose}, setExpiry(${call}): ${
        persistent
          ? `persistent, Max-Age ${maxAge}`
          : "a browser-session cookie"
      }`,
      async () => {
        const { clock, client } = setup({ expireAtBrowserClose });
        const value = call === "date" ? `date:${clock.now + 2 * HOUR}` : call;
        const path = call === "none"
          ? "/set?user=ram"
          : `/expire?value=${value}`;
        if (call !== "none") await client.get("/set?user=ram");
        const response = await client.get(path);
        const cookie = parseSetCookie(response.headers.get("set-cookie")!);
        assert.equal(cookie.attributes.get("max-age"), maxAge);
        assert.equal(cookie.attributes.has("expires"), persistent);
        // Kept on later saves that do not call setExpiry: it is stored.
        const later = parseSetCookie(
          (await client.get("/set?more=1")).headers.get("set-cookie")!,
        );
        assert.equal(later.attributes.has("max-age"), persistent);
      },
    );
  }

  await t.step(
    "remember me under expireAtBrowserClose: setExpiry(seconds) makes it persistent until setExpiry(null)",
    async () => {
      const { client } = setup({ expireAtBrowserClose: true });
      await client.get("/set?user=ram");
      const remembered = await client.get("/expire?value=604800");
      assert.equal(
        parseSetCookie(remembered.headers.get("set-cookie")!).attributes.get(
          "max-age",
        ),
        "604800",
      );
      const back = await client.get("/expire?value=null");
      assert.ok(
        !parseSetCookie(back.headers.get("set-cookie")!).attributes.has(
          "max-age",
        ),
      );
    },
  );
});
