/**
 * When a session ends: the absolute and idle deadlines, touch-on-read, and
 * Django's `set_expiry` rules. Every decision is made from a record's own
 * timestamps and a clock reading, never from a store still returning it.
 *
 * @module
 */

import type { Config } from "./options.ts";
import type { SessionRecord } from "./store.ts";

/** How a request changed the session's deadline: `setExpiry`. */
export type ExpiryChange =
  | { kind: "default" }
  | { kind: "at"; time: number }
  | { kind: "browser" };

/** Whether `record` is a live session at `now`: before both deadlines. */
export function isLive(
  config: Config,
  record: SessionRecord,
  now: number,
): boolean {
  return now < record.absoluteExpiresAt &&
    (config.idleTimeoutMs === null ||
      now < record.lastActiveAt + config.idleTimeoutMs);
}

/** Whether a read alone is due to refresh the idle deadline of `record`. */
export function isTouchDue(
  config: Config,
  record: SessionRecord,
  now: number,
): boolean {
  return config.idleTimeoutMs !== null &&
    now - record.lastActiveAt >= config.touchIntervalMs;
}

/**
 * The absolute deadline after an expiry change: `setExpiry(seconds | Date)`
 * sets it; `setExpiry(0)` and `setExpiry(null)` go back to creation plus
 * `absoluteTimeout`; no change keeps the record's.
 */
export function absoluteDeadline(
  config: Config,
  record: SessionRecord,
  expiry: ExpiryChange | null,
): number {
  if (expiry === null) return record.absoluteExpiresAt;
  if (expiry.kind === "at") return expiry.time;
  return record.createdAt + config.absoluteTimeoutMs;
}

/**
 * Whether the cookie lasts until the browser closes, as Django's
 * `get_expire_at_browser_close()`: a lifetime set with `setExpiry(seconds |
 * Date)` makes a persistent cookie even under `expireAtBrowserClose`,
 * `setExpiry(0)` a browser-session one, and `setExpiry(null)` returns to the
 * option; without a change the record keeps what it had.
 */
export function isBrowserSession(
  config: Config,
  record: SessionRecord,
  expiry: ExpiryChange | null,
): boolean {
  if (expiry === null) return record.browserSession;
  if (expiry.kind === "default") return config.expireAtBrowserClose;
  return expiry.kind === "browser";
}

/** The earlier of the absolute deadline and the idle one from `lastActiveAt`. */
export function expiresAt(
  config: Config,
  absoluteExpiresAt: number,
  lastActiveAt: number,
): number {
  return config.idleTimeoutMs === null
    ? absoluteExpiresAt
    : Math.min(absoluteExpiresAt, lastActiveAt + config.idleTimeoutMs);
}

/** The record a new session starts from, before the request's changes. */
export function freshRecord(config: Config, now: number): SessionRecord {
  const absoluteExpiresAt = now + config.absoluteTimeoutMs;
  return {
    data: {},
    createdAt: now,
    lastActiveAt: now,
    absoluteExpiresAt,
    expiresAt: expiresAt(config, absoluteExpiresAt, now),
    browserSession: config.expireAtBrowserClose,
  };
}
