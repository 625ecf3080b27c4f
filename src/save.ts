/**
 * Saving a request's session: what the request did becomes a change for the
 * write protocol, and its outcome comes back into the request's state and
 * decides the cookie the response sends.
 *
 * @module
 */

import { freshRecord, isTouchDue } from "./expiry.ts";
import { generateId, storeKey } from "./id.ts";
import { isEmptyData } from "./json.ts";
import type { Edits, SessionState } from "./session.ts";
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
    rotation: edits?.rotation ?? null,
    loaded: held.stored,
    view: state.data,
  };
  // The write may still be waiting when the handler goes on changing the
  // session after an explicit save: those changes go to a copy.
  if (!final) state.data = { ...state.data };
  // Later changes start a new set of edits, saved by a later save.
  state.edits = null;
  let outcome;
  try {
    outcome = await config.writer.submit(held.key, change);
  } catch (error) {
    failed(state, edits);
    throw error;
  }
  switch (outcome.kind) {
    case "stored":
      if (outcome.holder) {
        state.held = {
          id: change.rotation?.id ?? held.id,
          key: outcome.key,
          stored: outcome.stored,
          rotatedAway: false,
        };
        if (save) state.cookieAction = "send";
      } else {
        // Landed on a session another request rotated: its id is not ours
        // to send, and ours opens nothing any more.
        held.rotatedAway = true;
        state.cookieAction = "none";
      }
      return true;
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
  state.edits = null;
  if (isEmptyData(state.data)) return true;
  const loaded = { record: freshRecord(config, now), version: "" };
  const record = applyEdit(loaded.record, {
    kind: "edit",
    config,
    now,
    save: true,
    cleared: false,
    changes: null,
    expiry: edits?.expiry ?? null,
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
    stored = await config.writer.create(config, key, record);
  } catch (error) {
    failed(state, edits);
    throw error;
  }
  state.held = { id, key, stored, rotatedAway: false };
  state.cookieAction = "send";
  return true;
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
    await config.writer.submit(held.key, { kind: "end", config });
  }
  endHeld(state);
}

/** The session ended: drop it, and clear the cookie if one came. */
function endHeld(state: SessionState): void {
  state.held = null;
  state.data = {};
  state.isNew = true;
  state.cookieAction = state.cookie === null ? "none" : "clear";
}
