/**
 * What the examples answer, shared by examples/server.ts and
 * examples/hono.ts: the page (who is logged in, the session's contents, its
 * absolute and idle deadlines with a live countdown, the login and logout
 * forms, the user's devices with "log out other devices"), the login itself
 * (with Django's test cookie) and the /get greeting.
 *
 * @module
 */

import type { Session, UserSession } from "../mod.ts";

/** The data the examples keep in a session. */
export type Data = { sname: string; user: string; loginAt: string };

/** What /get answers. */
export function greeting(session: Session<Data>): string {
  const name = session.get("sname");
  if (name !== undefined) return `Welcome ${name}\n`;
  const why = session.wasExpired ? "your session expired" : "no session";
  return `Hello stranger: ${why}. Visit /set first.\n`;
}

/** What the login page says when the browser sent back no cookie. */
const COOKIES_OFF =
  "Your browser did not send back the cookie this site set, so you cannot stay logged in: allow cookies for this site and try again.";

/**
 * Logs `username` in on `session`, the way Django's login view does: the
 * login page set a test cookie, and only a browser that sent it back can
 * keep a session. Returns why it could not, for a 400, or null once logged
 * in.
 */
export async function logIn(
  session: Session<Data>,
  username: string,
): Promise<string | null> {
  if (username === "") return "username is required\n";
  if (!session.testCookieWorked()) return COOKIES_OFF;
  session.deleteTestCookie();
  await session.rotate(); // against session fixation
  session.set("user", username);
  session.set("loginAt", new Date().toISOString());
  return null;
}

/** Text made safe to put in HTML, in an element or an attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A time as the page shows it: `<time>` with the date and time in UTC. */
function time(at: Date): string {
  const iso = at.toISOString();
  return `<time datetime="${iso}">${iso.slice(0, 10)} ${
    iso.slice(11, 19)
  } UTC</time>`;
}

/** A deadline's line: when, and a countdown the page's script keeps live. */
function deadline(label: string, at: Date, now: number): string {
  return `<div class="deadline"><dt>${label}</dt><dd>${
    time(at)
  } <span class="countdown" data-remaining-ms="${
    at.getTime() - now
  }"></span></dd></div>`;
}

/**
 * Counts each deadline down from the time left when the page was made (not
 * the browser's clock, which may differ from the server's). When the first
 * one passes it notes so for the next page of this tab, which shows the
 * timed-out message if it finds the user logged out, and a second later
 * reloads the page (new deadlines if another tab kept the session).
 */
const COUNTDOWN = `
const notice = document.getElementById("timed-out");
if (notice && sessionStorage.getItem("deadline-passed")) notice.hidden = false;
sessionStorage.removeItem("deadline-passed");
const started = performance.now();
const clocks = [...document.querySelectorAll("[data-remaining-ms]")];
const left = (el) => Number(el.dataset.remainingMs) - (performance.now() - started);
const two = (n) => String(n).padStart(2, "0");
function text(s) {
  if (s <= 0) return "now";
  if (s < 60) return \`in \${s} s\`;
  if (s < 3600) return \`in \${Math.floor(s / 60)} min \${two(s % 60)} s\`;
  if (s < 86400) return \`in \${Math.floor(s / 3600)} h \${two(Math.floor(s / 60) % 60)} min\`;
  return \`in \${Math.floor(s / 86400)} d \${Math.floor(s / 3600) % 24} h\`;
}
function show() {
  for (const el of clocks) el.textContent = text(Math.max(0, Math.ceil(left(el) / 1000)));
}
show();
setInterval(show, 250);
const first = Math.max(0, Math.min(...clocks.map(left)));
// setTimeout takes at most 2^31 - 1 ms (24.8 days); later deadlines need no reload yet.
if (first + 1000 < 2 ** 31 - 1) {
  setTimeout(() => sessionStorage.setItem("deadline-passed", "1"), first);
  setTimeout(() => location.reload(), first + 1000);
}`;

const STYLE = `
:root { color-scheme: light dark; --accent: #0b6e4f; --muted: #6b7280; --line: #d1d5db; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; background: Canvas; color: CanvasText; }
main { max-width: 40rem; margin: 2.5rem auto; padding: 0 1.25rem; }
h1 { font-size: 1.5rem; margin: 0 0 1.5rem; }
h1 small { color: var(--muted); font-weight: normal; }
h2 { font-size: 1rem; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: 0 0 .5rem; }
section { border: 1px solid var(--line); border-radius: .5rem; padding: 1rem 1.25rem; margin-bottom: 1rem; }
.notice { border: 1px solid #d97706; border-radius: .375rem; padding: .5rem .75rem; background: color-mix(in srgb, #f59e0b 15%, Canvas); }
.status { font-size: 1.125rem; margin: 0 0 .75rem; }
form { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; margin: 0; }
input { font: inherit; padding: .4rem .6rem; border: 1px solid var(--line); border-radius: .375rem; min-width: 12rem; }
button { font: inherit; padding: .4rem 1rem; border: 0; border-radius: .375rem; background: var(--accent); color: white; cursor: pointer; }
dl { margin: 0; display: grid; gap: .25rem; }
.deadline { display: grid; grid-template-columns: 7rem 1fr; }
dt { color: var(--muted); }
dd { margin: 0; font-variant-numeric: tabular-nums; }
.countdown { font-weight: 600; margin-left: .5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td code { word-break: break-all; }
.muted, footer { color: var(--muted); }
footer { font-size: .875rem; }
footer a { color: inherit; }`;

/** The user's sessions, this one marked, and a form to end the others. */
function devicesSection(session: Session<Data>, devices: UserSession[]) {
  const rows = devices.map((device) =>
    `<tr><td>${
      device.handle === session.handle
        ? "<b>This browser</b>"
        : `<code>${device.handle.slice(0, 8)}</code>`
    }</td><td>${time(device.createdAt)}</td><td>${
      time(device.lastActiveAt)
    }</td><td>${time(device.expiresAt)}</td></tr>`
  ).join("");
  const others = devices.length - 1;
  return `<section id="devices"><h2>Your sessions</h2>
<p class="status">Signed in on ${devices.length} ${
    devices.length === 1 ? "device" : "devices"
  }.</p>
<table><tr><th>Device</th><th>Signed in</th><th>Last active</th><th>Expires</th></tr>${rows}</table>
${
    others > 0
      ? `<form method="post" action="/logout-others"><button>Log out other devices</button></form>`
      : ""
  }</section>`;
}

/** When the user logged in: a time, or the text /set gave, escaped. */
function since(loginAt: string): string {
  const at = new Date(loginAt);
  return Number.isNaN(at.getTime()) ? escapeHtml(loginAt) : time(at);
}

/** What the page shows besides the session itself. */
export interface PageExtras {
  /** The signed-in user's sessions, for the device list. */
  devices?: UserSession[];
  /** The login page: the form instead of a link to it. */
  loginForm?: boolean;
  /** Why the last login failed, shown above the form. */
  loginError?: string;
}

/**
 * The home page for `session`, read at `now`. Everything it prints from the
 * session is HTML-escaped: the data is whatever /set was given.
 */
export function homePage(
  session: Session<Data>,
  { devices = [], loginForm = false, loginError }: PageExtras = {},
  now = Date.now(),
): string {
  const user = session.get("user");
  const loginAt = session.get("loginAt");
  // Shown when the server saw the cookie of a timed-out session, and by the
  // page's script when a deadline passed on the page: the browser drops the
  // cookie itself at the absolute deadline (its Max-Age), so the server
  // never sees that one.
  const notice = user === undefined
    ? `<section id="timed-out" class="notice" role="status"${
      session.wasExpired ? "" : " hidden"
    }><b>Your session timed out</b>, so you were logged out. Log in again to continue.</section>`
    : "";
  const error = loginError === undefined
    ? ""
    : `<p id="login-error" class="notice" role="alert">${
      escapeHtml(loginError)
    }</p>`;
  const account = user === undefined
    ? `<p class="status">Not logged in.</p>${error}${
      loginForm
        ? `<form method="post" action="/login"><input name="username" placeholder="Your name" aria-label="Name" autocomplete="username" required><button>Log in</button></form>`
        : `<p><a href="/login">Log in</a></p>`
    }`
    : `<p class="status">Logged in as <b>${escapeHtml(user)}</b>${
      loginAt === undefined ? "" : ` since ${since(loginAt)}`
    }.</p>
<form method="post" action="/logout"><button>Log out</button></form>`;
  const absolute = session.absoluteExpiresAt;
  const idle = session.idleExpiresAt;
  const deadlines = absolute === null
    ? `<p class="muted">No session yet: log in, or visit <a href="/set">/set</a>.</p>`
    : `<dl>${deadline("Absolute", absolute, now)}${
      idle === null ? "" : deadline("Idle", idle, now)
    }</dl>
<p class="muted">${
      idle === null
        ? "The session ends at its absolute deadline, whatever you do."
        : "Each visit moves the idle deadline later, never past the absolute one."
    }</p>`;
  const rows = session.entries().map(([key, value]) =>
    `<tr><th scope="row">${escapeHtml(key)}</th><td><code>${
      escapeHtml(JSON.stringify(value))
    }</code></td></tr>`
  ).join("");
  const contents = rows === ""
    ? `<p class="muted">Empty.</p>`
    : `<table>${rows}</table>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>@denokit/session example</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>@denokit/session <small>example</small></h1>
${notice}
<section id="account">${account}</section>
${user === undefined ? "" : devicesSection(session, devices)}
<section id="deadlines"><h2>Deadlines</h2>${deadlines}</section>
<section id="contents"><h2>Session contents</h2>${contents}</section>
<footer>Also: <a href="/set">/set</a> stores sname=Ram (or each ?key=value), <a href="/get">/get</a> greets, <a href="/data">/data</a> shows the data as JSON.</footer>
</main>
<script>${COUNTDOWN}</script>
</body>
</html>
`;
}
