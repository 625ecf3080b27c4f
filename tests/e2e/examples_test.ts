// The examples (examples/server.ts and examples/hono.ts) in headless
// Chromium, as a user sees them: each runs as its own process on
// 127.0.0.1 with the memory store, and the browser keeps the cookie.

import assert from "node:assert/strict";
import type { BrowserContext, Page } from "playwright-core";
import { type ExampleServer, startServer } from "../example_server.ts";
import { launchBrowser, launchProfile } from "./browser.ts";

const EXAMPLES = ["examples/server.ts", "examples/hono.ts"];

/** Where this run keeps what it leaves behind: the screenshots. */
const runDir = await Deno.makeTempDir({ prefix: "e2e_" });

/** `script` on a port of its own with the memory store and `args`. */
function start(script: string, args: string[] = []): Promise<ExampleServer> {
  return startServer(script, {
    permissions: ["--allow-net=127.0.0.1"],
    args: ["--store", "memory", ...args],
  });
}

/** The session cookie the browser holds for the examples, if any. */
async function sessionCookie(context: BrowserContext) {
  const cookies = await context.cookies("http://127.0.0.1/");
  return cookies.find((cookie) => cookie.name === "sessionid") ?? null;
}

/** The home page's account line: "Logged in as NAME since ..." or "Not logged in." */
async function account(page: Page): Promise<string> {
  return (await page.textContent("#account .status"))?.trim() ?? "";
}

/** Logs in as `name` with the login page's form. */
async function login(page: Page, url: string, name: string): Promise<void> {
  await page.goto(`${url}/login`);
  await page.fill("input[name=username]", name);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForSelector("text=Logged in as");
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const script of EXAMPLES) {
  Deno.test(`${script} in Chromium: set and get, login, logout, HttpOnly, separate contexts`, async (t) => {
    await using server = await start(script);
    await using browser = await launchBrowser();
    const url = server.url;

    await t.step("/set, then /get: Welcome Ram", async () => {
      await using context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${url}/set`);
      assert.equal(
        (await page.textContent("body"))?.trim(),
        "User session is set",
      );
      await page.goto(`${url}/get`);
      assert.equal((await page.textContent("body"))?.trim(), "Welcome Ram");
    });

    await t.step(
      "login rotates the cookie, and the old value no longer opens the session",
      async () => {
        await using context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(`${url}/set?theme=dark`);
        const before = await sessionCookie(context);
        assert.ok(before !== null);
        await login(page, url, "Ram <b>");
        assert.match(await account(page), /^Logged in as Ram <b> since /);
        const after = await sessionCookie(context);
        assert.ok(after !== null);
        assert.notEqual(after.value, before.value, "a new id at login");
        assert.match(
          (await page.textContent("#contents")) ?? "",
          /theme"dark"/,
          "the data came along",
        );

        await using stale = await browser.newContext();
        await stale.addCookies([{ ...before, expires: -1 }]);
        const old = await stale.newPage();
        await old.goto(`${url}/`);
        assert.equal(await account(old), "Not logged in.");
        await old.goto(`${url}/data`);
        assert.equal((await old.textContent("body"))?.trim(), "{}");
      },
    );

    await t.step("logout clears the cookie", async () => {
      await using context = await browser.newContext();
      const page = await context.newPage();
      await login(page, url, "Ram");
      await page.getByRole("button", { name: "Log out" }).click();
      await page.waitForSelector("text=Not logged in");
      assert.equal(await sessionCookie(context), null);
    });

    await t.step(
      "the cookie is HttpOnly: page scripts never see it",
      async () => {
        await using context = await browser.newContext();
        const page = await context.newPage();
        await login(page, url, "Ram");
        const cookie = await sessionCookie(context);
        assert.ok(cookie !== null);
        assert.equal(cookie.httpOnly, true);
        assert.equal(await page.evaluate("document.cookie"), "");
      },
    );

    await t.step(
      "two browser contexts never see each other's session",
      async () => {
        await using first = await browser.newContext();
        await using second = await browser.newContext();
        const alice = await first.newPage();
        const bob = await second.newPage();
        await login(alice, url, "alice");
        await login(bob, url, "bob");
        await alice.reload();
        await bob.reload();
        assert.match(await account(alice), /^Logged in as alice /);
        assert.match(await account(bob), /^Logged in as bob /);
        assert.notEqual(
          (await sessionCookie(first))?.value,
          (await sessionCookie(second))?.value,
        );
        await using third = await browser.newContext();
        const stranger = await third.newPage();
        await stranger.goto(`${url}/`);
        assert.equal(await account(stranger), "Not logged in.");
      },
    );

    await t.step(
      "the device list: a second browser of the same user shows, and one logs the other out",
      async () => {
        await using first = await browser.newContext();
        await using second = await browser.newContext();
        const laptop = await first.newPage();
        const phone = await second.newPage();
        await login(laptop, url, "ram");
        await login(phone, url, "ram");
        await laptop.reload();
        assert.equal(
          (await laptop.textContent("#devices .status"))?.trim(),
          "Signed in on 2 devices.",
        );
        assert.equal(await laptop.locator("#devices tr").count(), 3);
        await laptop.getByRole("button", { name: "Log out other devices" })
          .click();
        await laptop.waitForSelector("text=Signed in on 1 device.");
        assert.match(await account(laptop), /^Logged in as ram /);
        await phone.reload();
        assert.equal(await account(phone), "Not logged in.");
      },
    );

    await t.step(
      "a browser that dropped the cookie is told that cookies are off",
      async () => {
        await using context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(`${url}/login`);
        await context.clearCookies(); // as a browser that refuses cookies
        await page.fill("input[name=username]", "Ram");
        await page.getByRole("button", { name: "Log in" }).click();
        await page.waitForSelector("#login-error");
        assert.match(
          (await page.textContent("#login-error")) ?? "",
          /allow cookies for this site/,
        );
        assert.equal(await account(page), "Not logged in.");
      },
    );

    await t.step(
      "without an idle timeout the page shows the absolute deadline only",
      async () => {
        await using context = await browser.newContext();
        const page = await context.newPage();
        await login(page, url, "Ram");
        assert.deepEqual(
          await page.locator("#deadlines dt").allTextContents(),
          [
            "Absolute",
          ],
        );
      },
    );
  });

  Deno.test(`${script} in Chromium: the idle timeout logs an idle user out, the absolute one even an active user`, async () => {
    const idle = 2_000;
    const absolute = 5_000;
    await using server = await start(script, [
      "--idle",
      String(idle / 1000),
      "--absolute",
      String(absolute / 1000),
    ]);
    await using browser = await launchBrowser();
    const url = server.url;

    // Left alone on the home page: its countdown reloads it after the idle
    // deadline, and the server says why the user is out.
    const idleUser = async () => {
      await using context = await browser.newContext();
      const page = await context.newPage();
      await login(page, url, "idle");
      const lastVisit = performance.now();
      await page.waitForSelector("text=Your session timed out", {
        timeout: idle + 5_000,
      });
      assert.ok(
        performance.now() - lastVisit >= idle,
        "not before the idle period",
      );
      assert.equal(await account(page), "Not logged in.");
      assert.equal(await sessionCookie(context), null);
    };

    // Visits every half second: the idle timeout never strikes, the absolute
    // one does.
    const activeUser = async () => {
      await using context = await browser.newContext();
      const page = await context.newPage();
      const loginAt = performance.now(); // before the session exists
      await login(page, url, "active");
      const loggedInAt = performance.now(); // after it does
      assert.deepEqual(await page.locator("#deadlines dt").allTextContents(), [
        "Absolute",
        "Idle",
      ]);
      await page.waitForFunction(
        "document.querySelectorAll('.countdown')[1].textContent.startsWith('in ')",
      );
      const screenshot = `${runDir}/${script.replace(/\W/g, "_")}.png`;
      await page.screenshot({ path: screenshot, fullPage: true });
      console.log(`screenshot: ${screenshot}`);
      while (performance.now() - loginAt < absolute - 1_000) {
        await sleep(500);
        await page.goto(`${url}/`);
        assert.match(
          await account(page),
          /^Logged in as active /,
          `still in after ${Math.round(performance.now() - loginAt)} ms`,
        );
      }
      for (;;) {
        await sleep(500);
        await page.goto(`${url}/`);
        if (await account(page) === "Not logged in.") break;
        assert.ok(
          performance.now() - loggedInAt < absolute + 3_000,
          "logged out within 3 s of the absolute deadline",
        );
      }
      assert.ok(
        performance.now() - loginAt >= absolute,
        "not before the absolute timeout",
      );
      assert.equal(await sessionCookie(context), null);
      // The browser dropped the cookie at its Max-Age: the page says why.
      assert.equal(await page.locator("#timed-out").isVisible(), true);
    };

    await Promise.all([idleUser(), activeUser()]);
  });

  Deno.test(`${script} in Chromium: an expireAtBrowserClose cookie is gone after a browser restart, a persistent one is not`, async () => {
    await using closing = await start(script, ["--expire-at-browser-close"]);
    await using lasting = await start(script);
    const profile = await Deno.makeTempDir({ prefix: "e2e_profile_" });
    try {
      {
        await using browser = await launchProfile(profile);
        const page = await browser.newPage();
        await login(page, closing.url, "ram");
        const cookie = await sessionCookie(browser);
        assert.equal(cookie?.expires, -1, "a cookie for this browser session");
      }
      {
        await using browser = await launchProfile(profile);
        assert.equal(
          await sessionCookie(browser),
          null,
          "gone after the restart",
        );
        const page = await browser.newPage();
        await page.goto(`${closing.url}/`);
        assert.equal(await account(page), "Not logged in.");
        // Cookies are per host, not per port: this one replaces nothing.
        await login(page, lasting.url, "sita");
        assert.ok(((await sessionCookie(browser))?.expires ?? -1) > 0);
      }
      {
        await using browser = await launchProfile(profile);
        const page = await browser.newPage();
        await page.goto(`${lasting.url}/`);
        assert.match(await account(page), /^Logged in as sita /);
      }
    } finally {
      await Deno.remove(profile, { recursive: true });
    }
  });
}
