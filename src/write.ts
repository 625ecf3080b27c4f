/**
 * The write protocol: how one request's change to a stored session reaches
 * the store without losing another request's change, and without bringing
 * back a session that ended.
 *
 * - A change is kept as what the request did (the keys it set and deleted, a
 *   clear, an expiry, a rotation, a read's touch), never as a snapshot, so
 *   that it can be applied onto whatever the store holds when it is written.
 * - Within a process, at most one write per session key is in flight. The
 *   changes submitted meanwhile wait and then go to the store together, in
 *   the order they came, as one write; each submitter is answered once the
 *   write that holds its change is stored. So conflicts are left only between
 *   processes.
 * - Every write is conditional on the version it was built on. After a
 *   conflict the latest record is read, the changes are applied onto it
 *   again, and the write is retried after a jittered backoff, for at most the
 *   `conflictTimeout`; then the changes fail, loudly.
 * - A session that ended (logout, emptied, a deadline past) stays ended: a
 *   change applied onto it is dropped. A rotation leaves a forwarding record
 *   under the old key, so a change that loaded the session before the
 *   rotation lands on the rotated session, and a second login that raced the
 *   first starts a session of its own from what it loaded.
 * - Activity only moves forward: a write keeps the later of the stored and
 *   its own last activity.
 *
 * @module
 */

import {
  absoluteDeadline,
  expiresAt,
  type ExpiryChange,
  type IdleChange,
  idleTimeoutOf,
  isBrowserSession,
  isLive,
  isTouchDue,
} from "./expiry.ts";
import { isEmptyData, type JsonValue, type SessionData } from "./json.ts";
import type { Config } from "./options.ts";
import { emit, type EventListener, type SessionEvent } from "./events.ts";
import { SessionTooLargeError } from "./record.ts";
import { timed } from "./timeout.ts";
import type { SessionRecord, SessionStore, StoredSession } from "./store.ts";

/**
 * How long the forwarding record of a rotation is kept: a request that
 * loaded the session up to this long before the rotation still lands its
 * change on the rotated session.
 */
export const FORWARD_MS = 10 * 60_000;
/** Forwarding records followed in a row, at most (a rotation of a rotation). */
export const MAX_HOPS = 4;
/** Backoff after the n-th conflict in a row: random up to BASE·2^n ms, at most CAP. */
const BACKOFF_BASE_MS = 1;
const BACKOFF_CAP_MS = 50;

/** A new session id and its store key. */
export interface NewId {
  readonly id: string;
  readonly key: string;
  /**
   * With a rotation grace: the new id sealed with the old one, for the
   * forwarding record; null without.
   */
  readonly successor: string | null;
}

/** Logout: the session ends, whatever other requests did to it meanwhile. */
export interface End {
  readonly kind: "end";
  readonly config: Config;
}

/**
 * A session a request found past a deadline: it ends, unless another request
 * refreshed it meanwhile.
 */
export interface Expire {
  readonly kind: "expire";
  readonly config: Config;
  readonly now: number;
  readonly loaded: StoredSession;
}

/** What one request did to a session it loaded. */
export interface Edit {
  readonly kind: "edit";
  readonly config: Config;
  /** The request's clock reading: its activity. */
  readonly now: number;
  /** Write even if nothing changed; otherwise only a due touch writes. */
  readonly save: boolean;
  /** `clear()` came first: the data is dropped before `changes` apply. */
  readonly cleared: boolean;
  /** Keys set (a value) or deleted (undefined), in order; null for none. */
  readonly changes: ReadonlyMap<string, JsonValue | undefined> | null;
  readonly expiry: ExpiryChange | null;
  /** `setIdleTimeout`, or null (or absent) for no change. */
  readonly idleTimeout?: IdleChange | null;
  /** The id the session is to move to (`rotate()`), or null. */
  readonly rotation: NewId | null;
  /** What the request loaded. */
  readonly loaded: StoredSession;
  /**
   * The data the request holds: `loaded` with its changes; null once an
   * earlier save merged them onto another request's (then `changes` alone
   * are applied).
   */
  readonly view: SessionData | null;
}

/** A request's change to a stored session. */
export type Change = Edit | End | Expire;

/** What became of a change. */
export type Outcome =
  | {
    /** Written, under `key`. */
    readonly kind: "stored";
    readonly key: string;
    readonly stored: StoredSession;
    /**
     * The request holds the id of the session written: its own, or the one
     * its rotation made. False when its change landed on a session that
     * another request rotated to an id this request does not know.
     */
    readonly holder: boolean;
    /**
     * When not the holder: the forwarding record the change followed, whose
     * `successor` the request may open with its own id during a rotation
     * grace.
     */
    readonly forward: SessionRecord | null;
  }
  /** This change ended the session (logout, emptied, a deadline past). */
  | { readonly kind: "ended" }
  /** The session had ended meanwhile: nothing was written for this change. */
  | { readonly kind: "gone" }
  /** Nothing to write: a read whose touch was not due. */
  | { readonly kind: "unchanged" };

/** Whether a record opens a session: it has data and does not point elsewhere. */
export function opensSession(record: SessionRecord): boolean {
  return record.movedTo === undefined && !isEmptyData(record.data);
}

/**
 * The record `edit` leaves when applied onto `record`; `record` itself when
 * it changes nothing (a read whose touch is not due).
 */
export function applyEdit(record: SessionRecord, edit: Edit): SessionRecord {
  const { config, now } = edit;
  if (!edit.save && !isTouchDue(config, record, now)) return record;
  let data: SessionData;
  if (record === edit.loaded.record && edit.view !== null) {
    data = edit.view;
  } else if (edit.cleared || edit.changes !== null) {
    const merged = new Map(edit.cleared ? [] : Object.entries(record.data));
    for (const [key, value] of edit.changes ?? []) {
      if (value === undefined) merged.delete(key);
      else merged.set(key, value);
    }
    data = Object.fromEntries(merged);
  } else {
    data = record.data;
  }
  const lastActiveAt = Math.max(record.lastActiveAt, now);
  const absoluteExpiresAt = absoluteDeadline(config, record, edit.expiry);
  const next: SessionRecord = {
    data,
    createdAt: record.createdAt,
    lastActiveAt,
    absoluteExpiresAt,
    expiresAt: 0,
    browserSession: isBrowserSession(config, record, edit.expiry),
  };
  const idle = edit.idleTimeout ?? null;
  if (idle === null) {
    if (record.idleTimeoutMs !== undefined) {
      next.idleTimeoutMs = record.idleTimeoutMs;
    }
  } else if (idle.kind === "set") {
    next.idleTimeoutMs = idle.ms;
  }
  next.expiresAt = expiresAt(
    idleTimeoutOf(config, next),
    absoluteExpiresAt,
    lastActiveAt,
  );
  const user = userOf(config, data);
  if (user !== undefined) next.user = user;
  return next;
}

/**
 * The signed-in user of `data`: with `userKey`, the string or number under
 * it, as a string.
 */
function userOf(config: Config, data: SessionData): string | undefined {
  const { userKey } = config;
  if (userKey === null || !Object.hasOwn(data, userKey)) return undefined;
  const value = data[userKey];
  return typeof value === "string" || typeof value === "number"
    ? String(value)
    : undefined;
}

/** Whether an edited record ends the session: emptied, or its deadline set in the past. */
export function endsSession(record: SessionRecord, now: number): boolean {
  return !opensSession(record) || record.absoluteExpiresAt <= now;
}

/** A change's fate in a plan. */
type Step =
  | { readonly fate: "stored"; readonly edit: Edit }
  /** A login that lost the race with another: it gets a session of its own. */
  | { readonly fate: "fork"; readonly edit: Edit; readonly to: NewId }
  | { readonly fate: "ended" | "gone" | "unchanged" };

/** A step that needs no record written. */
type QuietStep = Exclude<Step, { fate: "stored" }>;

/** What one attempt writes, from a batch of changes applied onto a base. */
type Plan =
  | {
    readonly kind: "none";
    readonly base: StoredSession | null;
    readonly steps: QuietStep[];
  }
  | {
    /** The session ends; conditionally on `base` when it was read. */
    readonly kind: "end";
    readonly base: StoredSession;
    readonly steps: QuietStep[];
  }
  | {
    readonly kind: "set";
    readonly record: SessionRecord;
    /** What the record was built on. */
    readonly base: StoredSession;
    /** The id the session moves to, and the rotating change's clock. */
    readonly rotation: Rotation | null;
    readonly steps: Step[];
  };

/**
 * Applies a batch of changes, in order, onto `base`: the latest record under
 * the key, or the one a forwarding record led to (`followed`).
 */
function plan(
  base: StoredSession | null,
  followed: boolean,
  batch: readonly (Edit | Expire)[],
): Plan {
  // A record a request loaded opened a session then; its data may since be
  // the request's own, changed in place.
  const opens = base !== null &&
    (loadedBy(batch, base) || opensSession(base.record));
  let record = opens ? base.record : null;
  let changed = false;
  let rotation: Rotation | null = null;
  let steps: Step[] = [];
  for (const change of batch) {
    if (record === null) {
      steps.push({ fate: "gone" });
      continue;
    }
    if (change.kind === "expire") {
      if (isLive(change.config, record, change.now)) {
        steps.push({ fate: "unchanged" });
      } else {
        record = null;
        changed = true;
        steps.push({ fate: "ended" });
      }
      continue;
    }
    if (!isLive(change.config, record, change.now)) {
      // Its deadline was moved earlier meanwhile: ended for this request.
      steps.push({ fate: "gone" });
      continue;
    }
    if (change.rotation !== null && (rotation !== null || followed)) {
      // Another login rotated the session first. This one starts a session
      // of its own from what it loaded, so that nothing crosses from one
      // login's session to the other's.
      steps.push({ fate: "fork", edit: change, to: change.rotation });
      continue;
    }
    const next = applyEdit(record, change);
    if (next === record) {
      steps.push({ fate: "unchanged" });
      continue;
    }
    changed = true;
    if (endsSession(next, change.now)) {
      // What earlier changes stored goes with the session.
      steps = steps.map((step) => step.fate === "stored" ? GONE : step);
      record = null;
      rotation = null;
      steps.push({ fate: "ended" });
      continue;
    }
    record = next;
    if (change.rotation !== null) {
      rotation = {
        to: change.rotation,
        now: change.now,
        graceMs: change.config.rotationGraceMs,
      };
    }
    steps.push({ fate: "stored", edit: change });
  }
  if (base !== null && changed && record !== null) {
    return { kind: "set", record, base, rotation, steps };
  }
  const quiet = steps.map((step) => step.fate === "stored" ? GONE : step);
  if (base !== null && changed) return { kind: "end", base, steps: quiet };
  return { kind: "none", base, steps: quiet };
}

/** Whether a change of `batch` loaded `base` itself. */
function loadedBy(batch: readonly (Edit | Expire)[], base: StoredSession) {
  for (const change of batch) if (change.loaded === base) return true;
  return false;
}

const GONE: QuietStep = { fate: "gone" };
const ENDED: Outcome = { kind: "ended" };
const GONE_OUTCOME: Outcome = { kind: "gone" };
const UNCHANGED: Outcome = { kind: "unchanged" };

/** A rotation a plan writes: the new id, and the rotating change's clock and grace. */
interface Rotation {
  readonly to: NewId;
  readonly now: number;
  readonly graceMs: number;
}

/**
 * The record a rotation leaves under the old key: pointing to the new one,
 * opened by requests on the old id until `absoluteExpiresAt` (the grace), and
 * followed by the changes of requests that loaded before the rotation until
 * `expiresAt`.
 */
function forwardRecord(old: SessionRecord, rotation: Rotation): SessionRecord {
  const { to, now, graceMs } = rotation;
  const forward: SessionRecord = {
    data: {},
    createdAt: old.createdAt,
    lastActiveAt: old.lastActiveAt,
    absoluteExpiresAt: now + graceMs,
    expiresAt: now + Math.max(graceMs, FORWARD_MS),
    browserSession: false,
    movedTo: to.key,
  };
  if (to.successor !== null) forward.successor = to.successor;
  return forward;
}

/** The record a conditional end leaves for an instant: no data, expired. */
function endedRecord(old: SessionRecord, now: number): SessionRecord {
  return {
    data: {},
    createdAt: old.createdAt,
    lastActiveAt: old.lastActiveAt,
    absoluteExpiresAt: now,
    expiresAt: now,
    browserSession: false,
  };
}

interface Submission {
  readonly change: Change;
  readonly resolve: (outcome: Outcome) => void;
  readonly reject: (error: unknown) => void;
}

/** The changes waiting for one key while a write of it is in flight. */
interface KeyQueue {
  readonly key: string;
  waiting: Submission[];
  /**
   * What the last write of this burst left under the key: the record, null
   * once ended, or the forwarding record of a rotation (whose version is not
   * known, and not needed: a forwarding record is only followed).
   */
  latest: StoredSession | null | undefined;
}

/**
 * One store's writes: one in flight per key, the rest coalesced behind it.
 * Get the one for a store with {@linkcode writerFor}.
 */
export class Writer {
  readonly #store: SessionStore;
  readonly #queues = new Map<string, KeyQueue>();
  /** The `onEvent` hooks of every middleware on this store. */
  readonly #listeners = new Set<EventListener>();

  constructor(store: SessionStore) {
    this.#store = store;
  }

  /** Adds a hook told about events that concern the store as a whole. */
  listen(listener: EventListener): void {
    this.#listeners.add(listener);
  }

  /** Tells every hook on this store about the event `make` builds (`endUserSessions`). */
  emitToAll(make: () => SessionEvent): void {
    if (this.#listeners.size === 0) return;
    const event = make();
    for (const listener of this.#listeners) emit(listener, () => event);
  }

  /** Applies `change` to the session under `key`; resolves once it is stored. */
  async submit(key: string, change: Change): Promise<Outcome> {
    const busy = this.#queues.get(key);
    if (busy !== undefined) {
      return await new Promise((resolve, reject) => {
        busy.waiting.push({ change, resolve, reject });
      });
    }
    // Nothing in flight for this key: write now; what arrives meanwhile
    // waits, and goes together in the next write.
    const queue: KeyQueue = { key, waiting: [], latest: undefined };
    this.#queues.set(key, queue);
    try {
      if (change.kind === "end") return await this.#end(queue, change);
      return (await this.#write(queue, [change]))[0];
    } catch (error) {
      queue.latest = undefined;
      throw error;
    } finally {
      if (queue.waiting.length === 0) this.#queues.delete(key);
      else this.#drain(queue);
    }
  }

  /** Creates a new session's record under a fresh key. */
  async create(
    config: Config,
    key: string,
    record: SessionRecord,
  ): Promise<StoredSession> {
    const version = await timed(
      config,
      this.#store.set(key, record, { version: null }),
      "set",
    );
    if (version === null) {
      throw new Error(
        "Session store refused to create a record under a fresh key: is its set() conditional on the version?",
      );
    }
    return { record, version };
  }

  /** Writes the changes waiting for `queue`'s key, a batch at a time. */
  async #drain(queue: KeyQueue): Promise<void> {
    while (queue.waiting.length > 0) {
      // A logout is written alone, unconditionally; the changes before it go
      // first, the ones after find the session gone.
      const first = queue.waiting[0];
      if (first.change.kind === "end") {
        queue.waiting.shift();
        try {
          first.resolve(await this.#end(queue, first.change));
        } catch (error) {
          queue.latest = undefined;
          first.reject(error);
        }
        continue;
      }
      const changes: (Edit | Expire)[] = [];
      for (const { change } of queue.waiting) {
        if (change.kind === "end") break;
        changes.push(change);
      }
      const batch = queue.waiting.slice(0, changes.length);
      queue.waiting = queue.waiting.slice(changes.length);
      try {
        const outcomes = await this.#write(queue, changes);
        for (let i = 0; i < batch.length; i++) batch[i].resolve(outcomes[i]);
      } catch (error) {
        queue.latest = undefined;
        if (error instanceof SessionTooLargeError && batch.length > 1) {
          // One change made the session too large: written one by one, only
          // the changes that do fail.
          queue.waiting = [...batch, ...queue.waiting];
          await this.#writeOneByOne(queue, batch.length);
        } else {
          for (const submission of batch) submission.reject(error);
        }
      }
    }
    this.#queues.delete(queue.key);
  }

  /** Writes the first `count` waiting changes each alone, in order. */
  async #writeOneByOne(queue: KeyQueue, count: number): Promise<void> {
    for (const submission of queue.waiting.splice(0, count)) {
      try {
        const { change } = submission;
        submission.resolve(
          change.kind === "end"
            ? await this.#end(queue, change)
            : (await this.#write(queue, [change]))[0],
        );
      } catch (error) {
        queue.latest = undefined;
        submission.reject(error);
      }
    }
  }

  /**
   * Logout: ends the key, whatever is there, and the session a rotation
   * since moved it to (its forwarding record says where): a logout racing a
   * login ends the rotated session too. The rotated session goes first, so
   * that a failing store leaves a logout that can be tried again. The key
   * itself is ended by a write conditional on what was read (an ended
   * record, deleted once written), so that a rotation by another process
   * landing after the read makes it read again and follow that one too.
   */
  async #end(queue: KeyQueue, end: End): Promise<Outcome> {
    const { config } = end;
    const store = this.#store;
    const started = Date.now();
    for (let conflicts = 0;; conflicts++) {
      const stored = await timed(config, store.get(queue.key), "get");
      const moved: string[] = [];
      for (
        let next = stored;
        next?.record.movedTo !== undefined && moved.length < MAX_HOPS;
      ) {
        moved.push(next.record.movedTo);
        next = await timed(config, store.get(next.record.movedTo), "get");
      }
      for (const key of moved.reverse()) {
        await timed(config, store.delete(key), "delete");
      }
      if (stored === null) break;
      const ended = await timed(
        config,
        store.set(queue.key, endedRecord(stored.record, Date.now()), {
          version: stored.version,
          previousUser: stored.record.user,
        }),
        "set",
      );
      if (ended !== null) {
        await timed(config, store.delete(queue.key), "delete");
        break;
      }
      if (Date.now() - started >= config.conflictTimeoutMs) {
        throw new Error(
          `Session not ended: for ${
            config.conflictTimeoutMs / 1000
          } s another process kept writing it first (conflictTimeout)`,
        );
      }
      if (conflicts > 0) await backoff(conflicts);
    }
    queue.latest = null;
    return ENDED;
  }

  /** Writes one batch, retrying after conflicts; the outcome of each change. */
  async #write(
    queue: KeyQueue,
    batch: readonly (Edit | Expire)[],
  ): Promise<Outcome[]> {
    const store = this.#store;
    const started = Date.now();
    const { config } = batch[0];
    const { conflictTimeoutMs } = config;
    let target = queue.key;
    /** The first forwarding record followed, if any. */
    let forward: SessionRecord | null = null;
    let base = queue.latest === undefined ? batch[0].loaded : queue.latest;
    for (let conflicts = 0;; conflicts++) {
      for (let hops = 0; base?.record.movedTo !== undefined; hops++) {
        if (hops === MAX_HOPS) {
          base = null;
          break;
        }
        forward ??= base.record;
        target = base.record.movedTo;
        base = await timed(config, store.get(target), "get");
      }
      const followed = forward !== null;
      const written = await this.#attempt(
        config,
        target,
        forward,
        plan(base, followed, batch),
      );
      if (written !== null) {
        if (!followed) queue.latest = written.left;
        return written.outcomes;
      }
      if (Date.now() - started >= conflictTimeoutMs) {
        throw new Error(
          `Session not saved: for ${
            conflictTimeoutMs / 1000
          } s every write lost a race with another process writing the same session (conflictTimeout)`,
        );
      }
      if (conflicts > 0) await backoff(conflicts);
      base = await timed(config, store.get(target), "get");
    }
  }

  /**
   * Writes what `plan` says: the outcomes and what the write left under the
   * batch's key (for the next batch to build on), or null after a conflict.
   */
  async #attempt(
    config: Config,
    target: string,
    followed: SessionRecord | null,
    plan: Plan,
  ): Promise<
    { outcomes: Outcome[]; left: StoredSession | null | undefined } | null
  > {
    const store = this.#store;
    switch (plan.kind) {
      case "none":
        return { outcomes: await this.#settle(plan.steps), left: plan.base };
      case "end": {
        const tombstone = endedRecord(plan.base.record, Date.now());
        const ended = await timed(
          config,
          store.set(target, tombstone, {
            version: plan.base.version,
            previousUser: plan.base.record.user,
          }),
          "set",
        );
        if (ended === null) return null;
        await timed(config, store.delete(target), "delete");
        return { outcomes: await this.#settle(plan.steps), left: null };
      }
      case "set": {
        const { record, base, rotation } = plan;
        const key = rotation?.to.key ?? target;
        const forward = rotation === null
          ? null
          : forwardRecord(base.record, rotation);
        const previousUser = base.record.user;
        const version = await timed(
          config,
          forward === null
            ? store.set(target, record, { version: base.version, previousUser })
            : store.set(key, record, {
              version: base.version,
              replaces: target,
              forward,
              previousUser,
            }),
          "set",
        );
        if (version === null) return null;
        const stored = { record, version };
        const settled = this.#settle(plan.steps, (edit) => ({
          kind: "stored",
          key,
          stored,
          holder: followed === null &&
            (rotation === null || edit.rotation === rotation.to),
          forward: followed,
        }));
        const outcomes = Array.isArray(settled) ? settled : await settled;
        // After a rotation only the forwarding record is known under the old
        // key, and only followed: its version is not needed.
        const left = forward === null
          ? stored
          : { record: forward, version: "" };
        return { outcomes, left };
      }
    }
  }

  /**
   * The outcome of each step once the plan is written; `stored` says what a
   * stored step became. Forks, the only steps that write again, are written
   * together, and only then is there a promise to wait for.
   */
  #settle(
    steps: readonly Step[],
    stored: (edit: Edit) => Outcome = () => GONE_OUTCOME,
  ): Outcome[] | Promise<Outcome[]> {
    let forks: Promise<void>[] | null = null;
    const outcomes: Outcome[] = [];
    for (const [i, step] of steps.entries()) {
      switch (step.fate) {
        case "stored":
          outcomes.push(stored(step.edit));
          break;
        case "fork":
          outcomes.push(GONE_OUTCOME);
          (forks ??= []).push(
            this.#fork(step.edit, step.to).then((fork) => {
              outcomes[i] = fork;
            }),
          );
          break;
        case "ended":
          outcomes.push(ENDED);
          break;
        case "gone":
          outcomes.push(GONE_OUTCOME);
          break;
        case "unchanged":
          outcomes.push(UNCHANGED);
          break;
      }
    }
    return forks === null ? outcomes : Promise.all(forks).then(() => outcomes);
  }

  /** A login that lost the race with another: its own session, from what it loaded. */
  async #fork(edit: Edit, to: NewId): Promise<Outcome> {
    const record = applyEdit(edit.loaded.record, edit);
    if (endsSession(record, edit.now)) return { kind: "ended" };
    const stored = await this.create(edit.config, to.key, record);
    return { kind: "stored", key: to.key, stored, holder: true, forward: null };
  }
}

function backoff(conflicts: number): Promise<void> {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** conflicts);
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
}

const writers = new WeakMap<SessionStore, Writer>();

/**
 * The writer of `store`, shared by every middleware on it in this process, so
 * that their writes of one session coalesce too.
 */
export function writerFor(store: SessionStore): Writer {
  let writer = writers.get(store);
  if (writer === undefined) {
    writer = new Writer(store);
    writers.set(store, writer);
  }
  return writer;
}
