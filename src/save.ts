/**
 * Saving a request's session: what the request did becomes a change for the
 * write protocol, and its outcome comes back into the request's state and
 * decides the cookie the response sends.
 *
 * @module
 */

import { freshRecord, isTouchDue } from "./expiry.ts";
import { emit, type SessionEvent, sessionEvent } from "./events.ts";
import { generateId, storeKey, successorOf } from "./id.ts";
import type { Config } from "./options.ts";
import type { SessionRecord } from "./store.ts";
import { isEmptyData } from "./json.ts";
import { SessionTooLargeError } from "./record.ts";
import type { Sealer } from "./stores/cookie.ts";
import type { Edits, HeldSession, SessionState } from "./session.ts";
import { applyEdit, type Edit, endsSession } from "./write.ts";

/**
 * Whether a save has anything to write: changes, `saveEveryRequest`, or a
 * read whose touch is due.
 */
export function hasWork(state: SessionState): boolean {
  const { config, held, edits } = state;
  if (edits !== null) return true;
  return held !== null &&
    (config.saveEveryRequest ||
      isTouchDue(config, held.stored.record, state.now));
}

/**
 * Saves what the request changed, or touches a session only read: see
 * `Session.save`. Resolves to false when the session had ended in another
 * request meanwhile, so that nothing was stored. `final`: no change can
 * follow (the response's save), so the data need not be copied.
 */
export async function saveSession(
  state: SessionState,
  final = false,
): Promise<boolean> {
  if (!hasWork(state)) return true;
  const { config, held, edits } = state;
  if (held === null) return await createSession(state);
  const save = edits !== null || config.saveEveryRequest;
  const change: Edit = {
    kind: "edit",
    config,
    now: state.now,
    save,
    cleared: edits?.cleared ?? false,
    changes: edits?.changes ?? null,
    expiry: edits?.expiry ?? null,
    idleTimeout: edits?.idleTimeout ?? null,
    rotation: edits?.rotation ?? null,
    loaded: held.stored,
    view: state.merged ? null : state.data,
  };
  // The write may still be waiting when the handler goes on changing the
  // session after an explicit save: those changes go to a copy.
  if (!final) state.data = { ...state.data };
  // Later changes start a new set of edits, saved by a later save.
  state.edits = null;
  if (config.sealer !== null) {
    try {
      return resealSession(state, config.sealer, change, held);
    } catch (error) {
      failed(state, edits);
      throw error;
    }
  }
  let outcome;
  try {
    outcome = await config.writer.submit(held.key, change);
  } catch (error) {
    failed(state, edits);
    throw error;
  }
  switch (outcome.kind) {
    case "stored": {
      const rotated = outcome.holder ? change.rotation : null;
      // Landed on a session another request rotated: during its grace this
      // request may open the new id with its own; otherwise the new id is
      // not its to send, and its own opens nothing any more.
      const adopted = outcome.holder
        ? null
        : adoptSuccessor(config, held.id, outcome);
      if (!outcome.holder && adopted === null) {
        held.rotatedAway = true;
        state.cookieAction = "none";
        return true;
      }
      state.held = {
        id: adopted ?? rotated?.id ?? held.id,
        key: outcome.key,
        stored: outcome.stored,
        rotatedAway: false,
      };
      // Stored as merged onto another request's changes: the data this
      // request holds is not what was stored.
      if (outcome.stored.record.data !== change.view) state.merged = true;
      if (save || adopted !== null) state.cookieAction = "send";
      if (rotated !== null) {
        announce(
          config,
          "rotated",
          outcome.key,
          outcome.stored.record.user,
          held.key,
        );
      }
      return true;
    }
    case "ended":
      endHeld(state);
      return true;
    case "gone":
      state.held = null;
      state.data = {};
      state.isNew = true;
      state.cookieAction = "none";
      return false;
    case "unchanged":
      return true;
  }
}

/** A new session: a fresh id, and one write that cannot conflict. */
async function createSession(state: SessionState): Promise<boolean> {
  const { config, now, edits } = state;
  // Nothing to store yet: a setExpiry or setIdleTimeout so far waits for the
  // changes that create the session.
  if (isEmptyData(state.data)) return true;
  state.edits = null;
  const loaded = { record: freshRecord(config, now), version: "" };
  const record = applyEdit(loaded.record, {
    kind: "edit",
    config,
    now,
    save: true,
    cleared: false,
    changes: null,
    expiry: edits?.expiry ?? null,
    idleTimeout: edits?.idleTimeout ?? null,
    rotation: null,
    loaded,
    view: { ...state.data },
  });
  if (endsSession(record, now)) {
    // A deadline set in the past: there is nothing to store.
    state.data = {};
    return true;
  }
  const id = generateId();
  const key = storeKey(id);
  let stored;
  try {
    stored = config.sealer === null
      ? await config.writer.create(config, key, record)
      : {
        record,
        version: sealChecked(config, config.sealer, id, key, record, now),
      };
  } catch (error) {
    failed(state, edits);
    throw error;
  }
  state.held = { id, key, stored, rotatedAway: false };
  state.cookieAction = "send";
  announce(config, "created", key, record.user);
  return true;
}

/**
 * A session kept in the cookie (`CookieStore`): `change` applied to it and
 * sealed again; nothing to wait for, nothing to merge.
 */
function resealSession(
  state: SessionState,
  sealer: Sealer,
  change: Edit,
  held: HeldSession,
): boolean {
  const { config } = state;
  const record = applyEdit(held.stored.record, change);
  if (record === held.stored.record) return true;
  if (endsSession(record, state.now)) {
    endHeld(state);
    return true;
  }
  const id = change.rotation?.id ?? held.id;
  const key = change.rotation?.key ?? held.key;
  const version = sealChecked(config, sealer, id, key, record, state.now);
  state.held = { id, key, stored: { record, version }, rotatedAway: false };
  state.cookieAction = "send";
  if (change.rotation !== null) {
    announce(config, "rotated", key, record.user, held.key);
  }
  return true;
}

/** The most bytes of a cookie a browser keeps: name, value and attributes. */
const MAX_COOKIE_BYTES = 4_096;

/**
 * `record` sealed for a `CookieStore`; a SessionTooLargeError, before
 * anything is sent, when the cookie would pass 4,096 bytes.
 */
function sealChecked(
  config: Config,
  sealer: Sealer,
  id: string,
  key: string,
  record: SessionRecord,
  now: number,
): string {
  const value = sealer.seal(id, key, record, config.cookieName);
  // The longest form it can take: Secure, with Max-Age and Expires.
  const cookie = config.setCookie.set(
    value,
    true,
    Math.ceil((record.absoluteExpiresAt - now) / 1000),
    now,
  );
  if (cookie.length > MAX_COOKIE_BYTES) {
    throw new SessionTooLargeError(
      "CookieStore (a browser keeps a cookie of at most 4,096 bytes)",
      record,
      cookie.length,
      MAX_COOKIE_BYTES,
    );
  }
  return value;
}

/**
 * The new id of the session a change followed a rotation to, if the
 * rotation's grace still runs and this request's id opens its successor.
 */
function adoptSuccessor(
  config: Config,
  id: string,
  outcome: { key: string; forward: SessionRecord | null },
): string | null {
  const { forward, key } = outcome;
  if (forward === null) return null;
  const successor = successorOf(id, forward, config.now());
  return successor?.key === key ? successor.id : null;
}

/**
 * A save of `edits` failed: they wait for the next save, unless the request
 * changed the session meanwhile.
 */
function failed(state: SessionState, edits: Edits | null): void {
  if (state.edits !== null || edits === null) return;
  state.edits = edits;
  state.failedSave = edits;
}

/** Logout: ends the held session at once, whatever was saving it. */
export async function endSession(state: SessionState): Promise<void> {
  const { held, config } = state;
  if (held !== null) {
    // A cookie store has nothing to delete: the cookie is cleared.
    if (config.sealer === null) {
      await config.writer.submit(held.key, { kind: "end", config });
    }
    announce(config, "flushed", held.key, held.stored.record.user);
  }
  endHeld(state);
}

/** Tells the `onEvent` hook, if any, of `type` for the session under `key`. */
function announce(
  config: Config,
  type: SessionEvent["type"],
  key: string,
  userId: string | undefined,
  previousKey?: string,
): void {
  emit(
    config.onEvent,
    () => sessionEvent(type, config.now(), key, userId, previousKey),
  );
}

/** The session ended: drop it, and clear the cookie if one came. */
function endHeld(state: SessionState): void {
  state.held = null;
  state.data = {};
  state.isNew = true;
  state.cookieAction = state.cookie === null ? "none" : "clear";
}
