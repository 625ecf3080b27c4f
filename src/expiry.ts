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

/** How a request changed the session's own idle timeout: `setIdleTimeout`. */
export type IdleChange =
  /** Back to the option's. */
  | { kind: "default" }
  /** Milliseconds, or null for none. */
  | { kind: "set"; ms: number | null };

/**
 * The idle timeout of `record` in milliseconds, null for none: its own
 * (`setIdleTimeout`), else the option's.
 */
export function idleTimeoutOf(
  config: Config,
  record: SessionRecord,
): number | null {
  return record.idleTimeoutMs === undefined
    ? config.idleTimeoutMs
    : record.idleTimeoutMs;
}

/**
 * How often a read refreshes an idle deadline of `idleMs` in the store: the
 * option's `touchInterval` for the option's idle timeout, else a tenth of
 * the session's own, at most a minute.
 */
export function touchIntervalOf(config: Config, idleMs: number): number {
  return idleMs === config.idleTimeoutMs
    ? config.touchIntervalMs
    : Math.min(60_000, idleMs / 10);
}

/** Whether `record` is a live session at `now`: before both deadlines. */
export function isLive(
  config: Config,
  record: SessionRecord,
  now: number,
): boolean {
  if (now >= record.absoluteExpiresAt) return false;
  const idle = idleTimeoutOf(config, record);
  return idle === null || now < record.lastActiveAt + idle;
}

/** Whether a read alone is due to refresh the idle deadline of `record`. */
export function isTouchDue(
  config: Config,
  record: SessionRecord,
  now: number,
): boolean {
  const idle = idleTimeoutOf(config, record);
  return idle !== null &&
    now - record.lastActiveAt >= touchIntervalOf(config, idle);
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
  idleMs: number | null,
  absoluteExpiresAt: number,
  lastActiveAt: number,
): number {
  return idleMs === null
    ? absoluteExpiresAt
    : Math.min(absoluteExpiresAt, lastActiveAt + idleMs);
}

/** The record a new session starts from, before the request's changes. */
export function freshRecord(config: Config, now: number): SessionRecord {
  const absoluteExpiresAt = now + config.absoluteTimeoutMs;
  return {
    data: {},
    createdAt: now,
    lastActiveAt: now,
    absoluteExpiresAt,
    expiresAt: expiresAt(config.idleTimeoutMs, absoluteExpiresAt, now),
    browserSession: config.expireAtBrowserClose,
  };
}
