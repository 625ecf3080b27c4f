// Sessions that know their user (src/users.ts), the rotation grace, the
// per-session idle timeout and audit events, on every store that files
// sessions by user.

import assert from "node:assert/strict";
import {
  endUserSessions,
  getSession,
  listUserSessions,
  type SessionEvent,
  type SessionOptions,
  type SessionStore,
  type UserIndex,
  withSession,
} from "../mod.ts";
import { Client, Pause, stepsOn, STORES } from "./app.ts";
import { parseSetCookie } from "./helpers.ts";

/** What the app answers. */
interface Seen {
  data: Record<string, string>;
  handle: string | null;
  expiresAt: number | null;
  ended?: number;
}

/**
 * An app: `/login?user=u` rotates and signs in, `/logout` flushes, `/set?k=v`
 * sets, `/whoami` reads, `/idle?s=...` setIdleTimeout (`none`: Infinity),
 * `/others` ends the user's other sessions; `&gate` holds the request at
 * `pause` after its changes.
 */
function app(
  store: SessionStore,
  options: SessionOptions = {},
  pause = new Pause(),
) {
  return withSession(async (req) => {
    const url = new URL(req.url);
    const session = await getSession(req);
    const param = (name: string) => url.searchParams.get(name) ?? "";
    let ended: number | undefined;
    switch (url.pathname) {
      case "/login":
        await session.rotate();
        session.set("userId", param("user"));
        break;
      case "/logout":
        await session.flush();
        break;
      case "/set":
        for (const [key, value] of url.searchParams) {
          if (key !== "gate") session.set(key, value);
        }
        break;
      case "/idle": {
        const seconds = param("s");
        session.setIdleTimeout(
          seconds === "null"
            ? null
            : seconds === "none"
            ? Infinity
            : Number(seconds),
        );
        break;
      }
      case "/others":
        ended = await endUserSessions(store, String(session.get("userId")), {
          except: session,
        });
        break;
    }
    if (url.searchParams.has("gate")) await pause.point();
    return Response.json({
      data: Object.fromEntries(session.entries()),
      handle: session.handle,
      expiresAt: session.expiresAt?.getTime() ?? null,
      ended,
    });
  }, { store, userKey: "userId", ...options });
}

const whoami = (client: Client) => client.json<Seen>("/whoami");

for (const { name, open } of STORES) {
  Deno.test(`${name}: sessions that know their user`, async (t) => {
    const step = stepsOn(t, open);

    await step(
      "every session of a user is listed, by a handle that is neither the id nor the key",
      async ({ store }) => {
        const handler = app(store);
        const laptop = new Client(handler);
        const phone = new Client(handler);
        await laptop.json("/login?user=ram");
        await phone.json("/login?user=ram");
        await new Client(handler).json("/login?user=sita");
        const devices = await listUserSessions(store, "ram");
        assert.equal(devices.length, 2);
        const handles = [
          (await whoami(laptop)).handle,
          (await whoami(phone)).handle,
        ];
        assert.deepEqual(
          devices.map((device) => device.handle).sort(),
          handles.sort(),
        );
        for (const device of devices) {
          assert.match(device.handle, /^[A-Za-z0-9_-]{22}$/);
          for (const client of [laptop, phone]) {
            assert.ok(!client.id.includes(device.handle));
            assert.ok(!client.key.includes(device.handle));
          }
          assert.ok(device.createdAt <= device.lastActiveAt);
          assert.ok(device.lastActiveAt < device.expiresAt);
          assert.equal(device.browserSession, false);
        }
      },
    );

    await step(
      "a change of user and a logout keep the filing exact",
      async ({ store }) => {
        const handler = app(store);
        const user = new Client(handler);
        await user.json("/login?user=ram");
        await user.json("/set?userId=sita");
        assert.deepEqual(await listUserSessions(store, "ram"), []);
        assert.equal((await listUserSessions(store, "sita")).length, 1);
        await user.json("/logout");
        assert.deepEqual(await listUserSessions(store, "sita"), []);
        const filed = await (store as SessionStore & UserIndex).listUser(
          "sita",
        );
        assert.deepEqual(filed, [], "no entry left behind by a logout");
      },
    );

    await step(
      "a session past its deadline is never reported, though its entry may linger",
      async ({ store }) => {
        const handler = app(store);
        await new Client(handler).json("/login?user=ram");
        const index = store as SessionStore & UserIndex;
        const [{ key, stored }] = await index.listUser("ram");
        // As if its idle deadline passed and the store had not collected it.
        await store.set(key, { ...stored.record, expiresAt: Date.now() - 1 }, {
          version: stored.version,
          previousUser: "ram",
        });
        // Redis drops a key written with a deadline already past (PXAT) and
        // its set entry with it; the other stores keep both until a sweep.
        assert.equal(
          (await index.listUser("ram")).length,
          name === "RedisStore" ? 0 : 1,
        );
        assert.deepEqual(await listUserSessions(store, "ram"), []);
      },
    );

    await step(
      "with the middleware's injected clock, a session past its idle deadline is neither listed nor ended",
      async ({ store }) => {
        let now = Date.now();
        const clock = { now: () => now };
        const handler = app(store, { idleTimeout: 60, ...clock });
        const idle = new Client(handler);
        await idle.json("/login?user=ram");
        now += 30_000;
        const active = new Client(handler);
        await active.json("/login?user=ram");
        const activeAt = now;
        now += 31_000; // the first one's idle deadline has passed
        const listed = await listUserSessions(store, "ram", clock);
        assert.deepEqual(
          listed.map((device) => device.handle),
          [(await whoami(active)).handle],
        );
        assert.equal(listed[0].expiresAt.getTime(), activeAt + 60_000);
        assert.equal(await endUserSessions(store, "ram", clock), 1);
        assert.deepEqual(await listUserSessions(store, "ram", clock), []);
      },
    );

    await step(
      "endUserSessions ends every session but the current one, then all; their cookies open nothing",
      async ({ store }) => {
        const handler = app(store);
        const devices = [0, 1, 2].map(() => new Client(handler));
        for (const device of devices) await device.json("/login?user=ram");
        const sita = new Client(handler);
        await sita.json("/login?user=sita");
        const [current, ...others] = devices;
        assert.equal((await current.json<Seen>("/others")).ended, 2);
        for (const device of others) {
          assert.deepEqual((await whoami(device)).data, {});
        }
        assert.deepEqual((await whoami(current)).data, { userId: "ram" });
        assert.equal(await endUserSessions(store, "ram"), 1);
        assert.deepEqual((await whoami(current)).data, {});
        assert.deepEqual((await whoami(sita)).data, { userId: "sita" });
      },
    );

    for (const place of ["this process", "another process"] as const) {
      await step(
        `log out everywhere while another request of the user saves (from ${place}): it stays ended`,
        async (opened) => {
          const pause = new Pause();
          const handler = app(opened.store, {}, pause);
          const user = new Client(handler);
          await user.json("/login?user=ram");
          const cookie = user.cookie;
          const { reached, resume } = pause.arm();
          const slow = user.json("/set?cart=apple&gate");
          await reached;
          const from = place === "this process" ? opened.store : opened.twin();
          assert.equal(await endUserSessions(from, "ram"), 1);
          resume();
          await slow;
          const again = new Client(handler);
          again.cookie = cookie;
          assert.deepEqual((await whoami(again)).data, {});
          assert.deepEqual(await listUserSessions(opened.store, "ram"), []);
        },
      );

      await step(
        `log out everywhere while a login rotates the user's session (from ${place}): the rotated one is ended too`,
        async (opened) => {
          const pause = new Pause();
          const handler = app(opened.store, {}, pause);
          const user = new Client(handler);
          await user.json("/login?user=ram");
          const { reached, resume } = pause.arm();
          const login = user.json("/login?user=ram&gate");
          await reached;
          const from = place === "this process" ? opened.store : opened.twin();
          const ending = endUserSessions(from, "ram");
          resume();
          await Promise.all([login, ending]);
          // Whichever came first, nothing of the user is left.
          assert.deepEqual(await listUserSessions(opened.store, "ram"), []);
          assert.deepEqual((await whoami(user)).data, {});
        },
      );
    }

    await step(
      "rotation grace: the old cookie opens the rotated session, its changes land there, it is sent the new cookie; after the grace it opens nothing",
      async ({ store }) => {
        let now = Date.now();
        const handler = app(store, { rotationGrace: 5, now: () => now });
        const user = new Client(handler);
        await user.json("/set?cart=apple");
        const old = user.cookie;
        await user.json("/login?user=ram");
        assert.notEqual(user.cookie, old);
        const tab = new Client(handler);
        tab.cookie = old;
        const inGrace = await tab.json<Seen>("/set?theme=dark");
        assert.equal(tab.cookie, user.cookie, "sent the new cookie");
        const cookie = parseSetCookie(inGrace.setCookie!);
        assert.ok(Number(cookie.attributes.get("max-age")) > 0);
        assert.deepEqual((await whoami(user)).data, {
          cart: "apple",
          userId: "ram",
          theme: "dark",
        });
        now += 5_001;
        const late = new Client(handler);
        late.cookie = old;
        assert.deepEqual((await whoami(late)).data, {});
      },
    );

    await step(
      "rotation grace: a request that loaded before the login and saves during the grace is sent the new cookie",
      async ({ store }) => {
        const pause = new Pause();
        const handler = app(store, { rotationGrace: 5 }, pause);
        const user = new Client(handler);
        await user.json("/set?cart=apple");
        const tab = new Client(handler);
        tab.cookie = user.cookie;
        const { reached, resume } = pause.arm();
        const slow = tab.json("/set?theme=dark&gate");
        await reached;
        await user.json("/login?user=ram");
        resume();
        await slow;
        assert.equal(tab.cookie, user.cookie);
        assert.deepEqual((await whoami(user)).data, {
          cart: "apple",
          userId: "ram",
          theme: "dark",
        });
      },
    );

    await step(
      "rotation grace ends with a flush and with endUserSessions",
      async ({ store }) => {
        const handler = app(store, { rotationGrace: 60 });
        for (const end of ["flush", "endUserSessions"]) {
          const user = new Client(handler);
          await user.json("/set?cart=apple");
          const old = user.cookie;
          await user.json("/login?user=ram");
          if (end === "flush") await user.json("/logout");
          else await endUserSessions(store, "ram");
          const stale = new Client(handler);
          stale.cookie = old;
          assert.deepEqual((await whoami(stale)).data, {}, end);
        }
      },
    );

    await step(
      "rotation grace: what the store holds opens no session, and holds no new id",
      async ({ store }) => {
        const handler = app(store, { rotationGrace: 60 });
        const user = new Client(handler);
        await user.json("/set?cart=apple");
        const oldKey = user.key;
        await user.json("/login?user=ram");
        const forward = (await store.get(oldKey))!.record;
        assert.equal(forward.movedTo, user.key);
        assert.equal(typeof forward.successor, "string");
        assert.ok(!JSON.stringify(forward).includes(user.id));
        for (const value of [forward.successor!, forward.movedTo!, oldKey]) {
          const guess = new Client(handler);
          guess.cookie = `sessionid=${value}`;
          assert.deepEqual((await whoami(guess)).data, {}, value);
        }
      },
    );

    await step(
      "setIdleTimeout: longer, none, or back to the option's; expiresAt and the store's deadline follow",
      async ({ store }) => {
        let now = Date.now();
        const handler = app(store, { idleTimeout: 60, now: () => now });
        const user = new Client(handler);
        await user.json("/login?user=ram");
        const long = await user.json<Seen>("/idle?s=3600");
        assert.equal(long.expiresAt, now + 3_600_000);
        const { record } = (await store.get(user.key))!;
        assert.equal(record.idleTimeoutMs, 3_600_000);
        assert.equal(record.expiresAt, now + 3_600_000, "collected then");
        now += 600_000; // ten minutes: past the option's 60 s
        assert.deepEqual((await whoami(user)).data, { userId: "ram" });
        await user.json("/idle?s=none");
        now += 10 * 86_400_000; // under the two-week absolute timeout
        assert.deepEqual((await whoami(user)).data, { userId: "ram" });
        await user.json("/idle?s=null");
        now += 61_000;
        assert.deepEqual((await whoami(user)).data, {});
      },
    );
  });
}

Deno.test("setIdleTimeout refuses what is not an idle timeout", async () => {
  const opened = await STORES[0].open();
  try {
    const handler = withSession(async (req) => {
      const session = await getSession(req);
      for (const bad of [0, -1, NaN, 401 * 86_400, "60" as unknown as number]) {
        assert.throws(() => session.setIdleTimeout(bad), TypeError);
      }
      return new Response("ok");
    }, { store: opened.store });
    await new Client(handler).handler(
      new Request("http://127.0.0.1/"),
      {} as Deno.ServeHandlerInfo,
    );
  } finally {
    await opened.close();
  }
});

Deno.test("userKey needs a store that files by user: a TypeError otherwise", async () => {
  const plain: SessionStore = {
    get: () => Promise.resolve(null),
    set: () => Promise.resolve(null),
    delete: () => Promise.resolve(),
  };
  assert.throws(
    () =>
      withSession(() => new Response(""), { store: plain, userKey: "userId" }),
    (error: Error) =>
      error instanceof TypeError &&
      /userKey needs a store that files sessions by user/.test(error.message),
  );
  await assert.rejects(listUserSessions(plain, "ram"), TypeError);
  await assert.rejects(endUserSessions(plain, "ram"), TypeError);
});

Deno.test("onEvent: created, rotated, expired, flushed and ended, by handles fit for logs", async () => {
  const opened = await STORES[0].open();
  try {
    const events: SessionEvent[] = [];
    let now = Date.now();
    const { store } = opened;
    const handler = app(store, {
      idleTimeout: 60,
      now: () => now,
      onEvent: (event) => void events.push(event),
    });
    const user = new Client(handler);
    await user.json("/set?cart=apple");
    const created = await whoami(user); // (no handle before it is stored)
    const loggedIn = await user.json<Seen>("/login?user=ram");
    now += 61_000;
    await whoami(user); // found expired
    await user.json("/login?user=ram"); // a new session: nothing to rotate
    const flushed = await whoami(user);
    await user.json("/logout");
    const sita = new Client(handler);
    await sita.json("/login?user=sita");
    const ended = await whoami(sita);
    await endUserSessions(store, "sita");
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(events.map((event) => event.type), [
      "created",
      "rotated",
      "expired",
      "created",
      "flushed",
      "created",
      "ended",
    ]);
    assert.equal(events[0].handle, created.handle);
    assert.equal(events[1].previousHandle, created.handle);
    assert.equal(events[1].handle, loggedIn.handle);
    assert.equal(events[1].userId, "ram");
    assert.equal(events[2].handle, loggedIn.handle);
    assert.equal(events[2].userId, "ram");
    assert.equal(events[4].handle, flushed.handle);
    assert.equal(events[4].userId, "ram");
    assert.equal(events[6].handle, ended.handle);
    assert.equal(events[6].userId, "sita");
    for (const event of events) assert.ok(event.at instanceof Date);
  } finally {
    await opened.close();
  }
});

Deno.test("onEvent: a hook that throws or never settles loses no save and delays no response", async () => {
  const opened = await STORES[0].open();
  const errors: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void errors.push(args);
  try {
    let release!: () => void;
    const never = new Promise<void>((resolve) => (release = resolve));
    const handler = app(opened.store, {
      onEvent: (event) => {
        if (event.type === "created") throw new Error("audit log down");
        return never;
      },
    });
    const user = new Client(handler);
    await user.json("/set?cart=apple");
    await user.json("/login?user=ram"); // answered while its hook still waits
    assert.deepEqual((await whoami(user)).data, {
      cart: "apple",
      userId: "ram",
    });
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(errors.length, 1);
    assert.match(String(errors[0][1]), /audit log down/);
    release();
  } finally {
    console.error = original;
    await opened.close();
  }
});
