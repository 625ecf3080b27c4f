/**
 * Audit events: what `onEvent` is told, and how it is told, so that a hook
 * can never delay a response, lose a save or bring a session back.
 *
 * @module
 */

import { handleOf } from "./id.ts";

/**
 * What happened to a session, for an audit log (OWASP: log creation,
 * renewal and destruction, with an identifier that is not the session id).
 *
 * - `created`: a new session was stored.
 * - `rotated`: `rotate()` moved it to a new id; `previousHandle` is the old
 *   one's handle.
 * - `expired`: a request found it past its absolute or idle deadline.
 * - `flushed`: `flush()` (logout) ended it.
 * - `ended`: `endUserSessions` ended it.
 *
 * @example
 * ```ts
 * import { type SessionEvent, withSession } from "@denokit/session";
 *
 * const log = (event: SessionEvent) =>
 *   console.log(JSON.stringify({ ...event, at: event.at.toISOString() }));
 * const handler = withSession(() => new Response("ok"), { onEvent: log });
 * ```
 */
export interface SessionEvent {
  /** What happened. */
  type: "created" | "rotated" | "expired" | "flushed" | "ended";
  /** When the store had it (for `expired`: when a request found it). */
  at: Date;
  /**
   * The session's handle: fit for logs, the same as `Session.handle` and the
   * handles `listUserSessions` gives; it is not the session id and cannot be
   * turned into one (nor into a store key).
   */
  handle: string;
  /** For `rotated`: the handle of the id it replaced. */
  previousHandle?: string;
  /** With `userKey`, the signed-in user's id, if the session had one. */
  userId: string | null;
}

/** A hook that takes events. */
export type EventListener = (event: SessionEvent) => void | Promise<void>;

/**
 * The event of `type` for the session under store key `key` (and, for
 * `rotated`, the key it replaced), at `atMs`.
 */
export function sessionEvent(
  type: SessionEvent["type"],
  atMs: number,
  key: string,
  userId: string | undefined,
  previousKey?: string,
): SessionEvent {
  const event: SessionEvent = {
    type,
    at: new Date(atMs),
    handle: handleOf(key),
    userId: userId ?? null,
  };
  if (previousKey !== undefined) event.previousHandle = handleOf(previousKey);
  return event;
}

/**
 * Tells `listener` about the event `make` builds (only when there is a
 * listener: a handle costs an HMAC), after the current task, never waiting
 * for it; what it throws or rejects with goes to `console.error`.
 */
export function emit(
  listener: EventListener | null,
  make: () => SessionEvent,
): void {
  if (listener === null) return;
  const event = make();
  queueMicrotask(() => {
    try {
      Promise.resolve(listener(event)).catch(report);
    } catch (error) {
      report(error);
    }
  });
}

function report(error: unknown): void {
  console.error("@denokit/session: the onEvent hook failed:", error);
}
