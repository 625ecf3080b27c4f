/**
 * Audit events: what `onEvent` is told, and how it is told, so that a hook
 * can never delay a response, lose a save or bring a session back.
 *
 * @module
 */

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
 * Tells `listener` about `event` after the current task, never waiting for
 * it; what it throws or rejects with goes to `console.error`.
 */
export function emit(listener: EventListener | null, event: SessionEvent) {
  if (listener === null) return;
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
