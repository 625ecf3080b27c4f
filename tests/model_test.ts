// Model-based tests: random sequences of session operations, issued as real
// requests through withSession on every store with an injected clock, each
// checked against a plain model of what the sessions must hold, whether they
// must have expired, and the cookie each response must send.
//
// CI runs a fixed seed. A longer run, with a seed of its own printed first:
//   deno task model                       (--runs 2000 --seed random)
//   deno task model --seed 1234 --runs 50 (the later flags win)
// On a failure fast-check prints the seed, the path and (after the
// counterexample) the commands' replayPath: `--seed S --path P --replay R`
// replays it at once.

import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import fc from "fast-check";
import { getSession, withSession } from "../mod.ts";
import { isWellFormedId, storeKey } from "../src/id.ts";
import { Client, type OpenStore, Pause, STORES } from "./app.ts";
import { parseSetCookie } from "./helpers.ts";

const ABSOLUTE_MS = 600_000;
const IDLE_MS = 60_000;
const TOUCH_MS = 5_000;
/** No session or cookie lives longer (RFC 6265bis). */
const MAX_LIFETIME_MS = 400 * 86_400_000;

const args = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "400" },
    seed: { type: "string", default: "20261201" },
    path: { type: "string" },
    replay: { type: "string" },
    commands: { type: "string", default: "24" },
  },
}).values;
const RUNS = Number(args.runs);
const SEED = args.seed === "random"
  ? Math.floor(Math.random() * 2 ** 31)
  : Number(args.seed);
const MAX_COMMANDS = Number(args.commands);

// -- What a request does ------------------------------------------------------

type Json = null | number | string | Json[] | { [key: string]: Json };

/** One call on the session, as the test handler performs it. */
type Op =
  | { op: "get" | "delete" | "pop"; key: string }
  | { op: "set" | "setDefault"; key: string; value: Json }
  | { op: "clear" | "flush" | "rotate" | "save" }
  /** Holds the request at the test's pause. */
  | { op: "gate" }
  /** `seconds`, a Date `date` ms from the request's clock, or 0 / null. */
  | { op: "setExpiry"; seconds?: number; date?: number; value?: 0 | null }
  | { op: "setIdleTimeout"; seconds: number | "Infinity" | null };

/** What an op answered: a value, none, whether it deleted, or the error's name. */
type Result =
  | { value: Json }
  | { missing: true }
  | { deleted: boolean }
  | { error: string }
  /** `save()`: what it resolved to, and the id after it. */
  | { saved: boolean; id: string | null }
  | null;

/** What the test handler answers: the session at load, the ops' results, the session after them. */
interface Body {
  seen: { data: Record<string, Json>; isNew: boolean; wasExpired: boolean };
  results: Result[];
  after: {
    data: Record<string, Json>;
    isNew: boolean;
    id: string | null;
    expiresAt: number | null;
  };
}

/**
 * The handler the model drives: `/run?script=[ops]` performs the ops in
 * order and answers a {@linkcode Body}; a `gate` op holds it at `pause`.
 * `trace.results` is the results of the latest request, as they come.
 */
function modelApp(
  pause: Pause,
  clock: { now: number },
  trace: { results: Result[] },
) {
  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const ops = JSON.parse(url.searchParams.get("script") ?? "[]") as Op[];
    const session = await getSession<Record<string, Json>>(req);
    // The request's own clock, which the session read as it loaded.
    const now = clock.now;
    const seen = {
      data: Object.fromEntries(session.entries()),
      isNew: session.isNew,
      wasExpired: session.wasExpired,
    };
    // Seen by the test as they come, before a held request answers.
    const results: Result[] = trace.results = [];
    const found = (value: Json | undefined): Result =>
      value === undefined ? { missing: true } : { value };
    for (const op of ops) {
      try {
        switch (op.op) {
          case "gate":
            await pause.point();
            results.push(null);
            break;
          case "get":
            results.push(found(session.get(op.key)));
            break;
          case "set":
            session.set(op.key, op.value);
            results.push(null);
            break;
          case "setDefault":
            results.push(found(session.setDefault(op.key, op.value)));
            break;
          case "delete":
            results.push({ deleted: session.delete(op.key) });
            break;
          case "pop":
            results.push(found(session.pop(op.key)));
            break;
          case "clear":
            session.clear();
            results.push(null);
            break;
          case "flush":
            await session.flush();
            results.push(null);
            break;
          case "rotate":
            await session.rotate();
            results.push(null);
            break;
          case "save":
            results.push({ saved: await session.save(), id: session.id });
            break;
          case "setExpiry":
            session.setExpiry(
              op.date !== undefined
                ? new Date(now + op.date)
                : op.seconds ?? op.value ?? null,
            );
            results.push(null);
            break;
          case "setIdleTimeout":
            session.setIdleTimeout(
              op.seconds === "Infinity" ? Infinity : op.seconds,
            );
            results.push(null);
            break;
        }
      } catch (error) {
        results.push({ error: (error as Error).name });
      }
    }
    const body: Body = {
      seen,
      results,
      after: {
        data: Object.fromEntries(session.entries()),
        isNew: session.isNew,
        id: session.id,
        expiresAt: session.expiresAt?.getTime() ?? null,
      },
    };
    return Response.json(body);
  };
}

// -- The model ------------------------------------------------------------------

/** A stored session as the model keeps it. */
interface Rec {
  data: Map<string, Json>;
  createdAt: number;
  lastActiveAt: number;
  absoluteExpiresAt: number;
  browserSession: boolean;
  /** `setIdleTimeout`: ms, null for none; undefined: the option's. */
  idleMs?: number | null;
}

/** What a request changed, to be applied onto whatever is stored when it saves. */
interface Edits {
  cleared: boolean;
  /** Keys set, or deleted (undefined), the last change of each. */
  changes: Map<string, Json | undefined>;
  expiry: { at: number } | "browser" | "default" | null;
  idle: { ms: number | null } | "default" | null;
  rotation: boolean;
}

const noEdits = (): Edits => ({
  cleared: false,
  changes: new Map(),
  expiry: null,
  idle: null,
  rotation: false,
});

function idleOf(rec: Rec): number | null {
  return rec.idleMs === undefined ? IDLE_MS : rec.idleMs;
}

/** Before both deadlines: README's "Timeouts". */
function isLive(rec: Rec, now: number): boolean {
  const idle = idleOf(rec);
  return now < rec.absoluteExpiresAt &&
    (idle === null || now < rec.lastActiveAt + idle);
}

/**
 * A read refreshes the stored idle deadline once it is `touchInterval` old:
 * the option's for the option's idle timeout, else a tenth of the session's
 * own, at most a minute (Session.setIdleTimeout).
 */
function isTouchDue(rec: Rec, now: number): boolean {
  const idle = idleOf(rec);
  return idle !== null && now - rec.lastActiveAt >= touchIntervalOf(idle);
}

function touchIntervalOf(idle: number): number {
  return idle === IDLE_MS ? TOUCH_MS : Math.min(60_000, idle / 10);
}

function expiresAtOf(rec: Rec): number {
  const idle = idleOf(rec);
  return idle === null
    ? rec.absoluteExpiresAt
    : Math.min(rec.absoluteExpiresAt, rec.lastActiveAt + idle);
}

/** The absolute deadline after an expiry change: Django's set_expiry, from creation for 0 and null. */
function deadline(rec: Rec, expiry: Edits["expiry"]): number {
  if (expiry === null) return rec.absoluteExpiresAt;
  if (expiry === "browser" || expiry === "default") {
    return rec.createdAt + ABSOLUTE_MS;
  }
  return expiry.at;
}

/**
 * `edits` applied onto `rec`, the record stored when the request saves: its
 * changes onto the latest data (a clear first drops it all), activity only
 * forward, the expiry and idle changes over the stored ones.
 */
function apply(
  rec: Rec,
  edits: Edits,
  now: number,
  browserClose: boolean,
): Rec {
  const data = edits.cleared ? new Map() : new Map(rec.data);
  for (const [key, value] of edits.changes) {
    if (value === undefined) data.delete(key);
    else data.set(key, value);
  }
  const { expiry, idle } = edits;
  const next: Rec = {
    data,
    createdAt: rec.createdAt,
    lastActiveAt: Math.max(rec.lastActiveAt, now),
    absoluteExpiresAt: deadline(rec, expiry),
    // A lifetime makes a persistent cookie even under expireAtBrowserClose;
    // 0 a browser-session one; null the option.
    browserSession: expiry === null
      ? rec.browserSession
      : expiry === "default"
      ? browserClose
      : expiry === "browser",
  };
  const idleMs = idle === null
    ? rec.idleMs
    : idle === "default"
    ? undefined
    : idle.ms;
  if (idleMs !== undefined) next.idleMs = idleMs;
  return next;
}

/** Emptied, or its deadline set in the past: the session ends with the response. */
function ends(rec: Rec, now: number): boolean {
  return rec.data.size === 0 || rec.absoluteExpiresAt <= now;
}

function fresh(data: Map<string, Json>, now: number, browserClose: boolean) {
  return {
    data,
    createdAt: now,
    lastActiveAt: now,
    absoluteExpiresAt: now + ABSOLUTE_MS,
    browserSession: browserClose,
  };
}

/** The cookie a response must send: none, cleared, or set to an id, with Max-Age or not. */
type CookieRule =
  | { kind: "none" }
  | { kind: "clear" }
  | { kind: "send"; id: string; maxAge: number | null };

/** Tallies over a store's runs, printed at its end. */
type Counts = Record<string, number>;

function count(counts: Counts, name: string, n = 1) {
  counts[name] = (counts[name] ?? 0) + n;
}

/** The sessions every id must open (null: nothing, ever again), the cookie jar and the clock. */
class Model {
  now = Date.UTC(2030, 0, 1);
  /** The id the browser's cookie holds. */
  jar: string | null = null;
  /** Every id seen: its record, or null once it must open nothing for good. */
  readonly sessions = new Map<string, Rec | null>();
  /** Rotations: the id a rotated-away id moved to. */
  readonly forwards = new Map<string, string>();

  constructor(
    readonly browserClose: boolean,
    readonly saveEveryRequest: boolean,
    readonly counts: Counts,
  ) {}

  /** Takes a fresh id the library made: never one seen before. */
  adopt(id: string, rec: Rec | null) {
    assert.ok(isWellFormedId(id), `a well-formed id: ${id}`);
    assert.ok(!this.sessions.has(id), `a fresh id: ${id}`);
    this.sessions.set(id, rec);
  }
}

/**
 * One request as the model runs it: loaded (an expired session found ends
 * then), its ops applied (a flush or a `save()` takes effect then), and
 * saved by the response with {@linkcode ModelRequest.respond}, onto
 * whatever is stored by then.
 */
class ModelRequest {
  readonly now: number;
  readonly cookieIn: boolean;
  /** The session held (the loaded one, or the one a save made) and its latest record. */
  held: { id: string; rec: Rec } | null = null;
  view = new Map<string, Json>();
  isNew: boolean;
  /** What changed since the last save. */
  edits: Edits | null = null;
  /** The cookie the saves so far decided on; null while none did. */
  #cookie: "send" | "clear" | "none" | null = null;
  /** A save merged this request's changes onto another request's. */
  #merged = false;
  readonly #seen: Body["seen"];
  readonly #results: Result[] = [];

  /**
   * Loads the session of the first of `cookies` (session ids, in the
   * header's order) that opens one; of up to three.
   */
  constructor(readonly model: Model, cookies: string[]) {
    this.now = model.now;
    this.cookieIn = cookies.length > 0;
    let wasExpired = false;
    for (const cookie of cookies.slice(0, 3)) {
      assert.ok(model.sessions.has(cookie), "a cookie of a known id");
      const rec = model.sessions.get(cookie)!;
      if (rec !== null && isLive(rec, this.now)) {
        this.held = { id: cookie, rec };
        this.view = new Map(rec.data);
        break;
      } else if (rec !== null) {
        // Found past a deadline: deleted by the load, seen as expired.
        wasExpired = true;
        model.sessions.set(cookie, null);
        count(model.counts, "expired on load");
      }
    }
    this.isNew = this.held === null;
    this.#seen = {
      data: Object.fromEntries(this.view),
      isNew: this.isNew,
      wasExpired: this.held === null && wasExpired,
    };
  }

  /**
   * Performs `ops`, the next ones of the request. `reported`: what the
   * handler answered for each, of which the model takes only the ids its
   * `save()` calls made (and checks they are new).
   */
  perform(ops: Op[], reported: Result[]): this {
    ops.forEach((op, i) => this.#results.push(this.#perform(op, reported[i])));
    return this;
  }

  /** What the handler must answer, once every op is performed (before the response's save). */
  get expected(): Body {
    return {
      seen: this.#seen,
      results: this.#results,
      after: {
        data: Object.fromEntries(this.view),
        isNew: this.isNew,
        id: this.held?.id ?? null,
        expiresAt: this.#expiresAt(),
      },
    };
  }

  #edits(): Edits {
    return this.edits ??= noEdits();
  }

  #perform(op: Op, reported: Result | undefined): Result {
    const found = (key: string): Result =>
      this.view.has(key) ? { value: this.view.get(key)! } : { missing: true };
    switch (op.op) {
      case "gate":
        return null;
      case "get":
        return found(op.key);
      case "set":
        this.view.set(op.key, op.value);
        this.#edits().changes.set(op.key, op.value);
        return null;
      case "setDefault":
        if (!this.view.has(op.key)) this.#perform({ ...op, op: "set" }, null);
        return found(op.key);
      case "delete":
      case "pop": {
        const result = op.op === "pop"
          ? found(op.key)
          : { deleted: this.view.has(op.key) };
        if (this.view.has(op.key)) {
          this.view.delete(op.key);
          this.#edits().changes.set(op.key, undefined);
        }
        return result;
      }
      case "clear": {
        this.view = new Map();
        const edits = this.#edits();
        edits.cleared = true;
        edits.changes = new Map();
        return null;
      }
      case "flush":
        // Logout ends the stored session at once, and drops what the
        // request had changed. It wins over a login that rotated the
        // session since this request loaded it: that session ends too.
        if (this.held !== null) {
          let id = this.held.id;
          this.model.sessions.set(id, null);
          while (this.model.forwards.has(id)) {
            id = this.model.forwards.get(id)!;
            this.model.sessions.set(id, null);
          }
          count(this.model.counts, "flushed");
        }
        this.#end();
        this.edits = { ...noEdits(), cleared: true };
        return null;
      case "rotate":
        if (this.held !== null) this.#edits().rotation = true;
        return null;
      case "save": {
        // The id the handler saw after the save: a new session's, or the
        // rotated one.
        const id = reported !== null && reported !== undefined &&
            "saved" in reported
          ? reported.id
          : null;
        const saved = this.#save(id, () => {
          assert.ok(id !== null, "save() stored a new session: its id");
          return id;
        });
        count(this.model.counts, "explicit saves");
        return { saved, id: this.held?.id ?? null };
      }
      case "setExpiry": {
        let expiry: Edits["expiry"];
        if (op.date !== undefined) {
          if (op.date > MAX_LIFETIME_MS) return { error: "RangeError" };
          expiry = { at: this.now + op.date };
        } else if (op.seconds !== undefined) {
          if (!(op.seconds > 0)) return { error: "TypeError" };
          if (op.seconds * 1000 > MAX_LIFETIME_MS) {
            return { error: "RangeError" };
          }
          expiry = { at: this.now + op.seconds * 1000 };
        } else {
          expiry = op.value === 0 ? "browser" : "default";
        }
        this.#edits().expiry = expiry;
        return null;
      }
      case "setIdleTimeout": {
        const { seconds } = op;
        let idle: Edits["idle"];
        if (seconds === null) idle = "default";
        else if (seconds === "Infinity") idle = { ms: null };
        else if (seconds > 0 && seconds * 1000 <= MAX_LIFETIME_MS) {
          idle = { ms: seconds * 1000 };
        } else return { error: "TypeError" };
        this.#edits().idle = idle;
        return null;
      }
    }
  }

  /** Session.expiresAt: when it ends if no later request touches it. */
  #expiresAt(): number | null {
    if (this.held === null && this.view.size === 0) return null;
    const rec = this.held?.rec ??
      fresh(this.view, this.now, this.model.browserClose);
    const edits = this.edits;
    const absolute = deadline(rec, edits?.expiry ?? null);
    const change = edits?.idle ?? null;
    const idle = change === null
      ? idleOf(rec)
      : change === "default"
      ? IDLE_MS
      : change.ms;
    if (idle === null) return absolute;
    const writes = this.held === null || edits !== null ||
      this.model.saveEveryRequest || isTouchDue(rec, this.now);
    const last = writes
      ? Math.max(rec.lastActiveAt, this.now)
      : rec.lastActiveAt;
    return Math.min(absolute, last + idle);
  }

  /** The session ended: nothing held, and the cookie cleared if one came. */
  #end() {
    this.held = null;
    this.view = new Map();
    this.isNew = true;
    this.#cookie = this.cookieIn ? "clear" : "none";
  }

  /**
   * Saves what changed since the last save onto what is stored now (another
   * request may have saved since this one loaded), in the model; what
   * `save()` resolves to. `rotatedTo`: the new id `rotate()` made;
   * `created`: the id of a new session the library stored.
   */
  #save(rotatedTo: string | null, created: () => string): boolean {
    const { model, now, edits, held } = this;
    const counts = model.counts;
    const { browserClose } = model;
    /** A write even if nothing changed (else only a due touch writes). */
    const save = edits !== null || model.saveEveryRequest;
    /** The new id of a rotation stored under it. */
    const adoptRotated = (rec: Rec) => {
      assert.ok(rotatedTo !== null, "rotate() showed its new id");
      model.adopt(rotatedTo, rec);
      return rotatedTo;
    };
    /**
     * A rotation not stored leaves nothing under its new id (which a save
     * that ended the session never showed).
     */
    const dropRotated = () => {
      if (rotatedTo !== null) model.adopt(rotatedTo, null);
    };
    if (held === null) {
      // Nothing to store yet: what changed waits for a later save.
      if (edits === null || this.view.size === 0) return true;
      this.edits = null;
      const rec = apply(
        fresh(this.view, now, browserClose),
        { ...edits, cleared: false, changes: new Map() },
        now,
        browserClose,
      );
      if (ends(rec, now)) {
        // A deadline set in the past: nothing to store.
        this.view = new Map();
        return true;
      }
      const id = created();
      model.adopt(id, rec);
      this.held = { id, rec };
      this.#cookie = "send";
      count(counts, "created");
      return true;
    }
    if (!save && !isTouchDue(held.rec, now)) return true;
    this.edits = null;
    // Where the session is now: a rotation since the load moved it.
    let target = held.id;
    let followed = false;
    while (model.forwards.has(target)) {
      target = model.forwards.get(target)!;
      followed = true;
    }
    const current = model.sessions.get(target) ?? null;
    if (current === null || !isLive(current, now)) {
      // Logged out (or emptied) meanwhile: it stays so; nothing is sent.
      count(
        counts,
        current === null
          ? "dropped: ended meanwhile"
          : "dropped: its deadline moved before this request's clock",
      );
      if (edits?.rotation) dropRotated();
      this.held = null;
      this.view = new Map();
      this.isNew = true;
      this.#cookie = "none";
      return false;
    }
    if (edits?.rotation && followed) {
      // Two logins raced: this one gets a session of its own from what it
      // loaded and changed (its data, unless a save merged it with another
      // request's), and nothing of the other's.
      const rec = apply(held.rec, edits, now, browserClose);
      if (!this.#merged) rec.data = new Map(this.view);
      if (ends(rec, now)) {
        dropRotated();
        this.#end();
        return true;
      }
      this.held = { id: adoptRotated(rec), rec };
      this.#cookie = "send";
      count(counts, "login raced a login: a session of its own");
      return true;
    }
    if (!save && !isTouchDue(current, now)) {
      count(counts, "touch not due any more");
      return true;
    }
    const next = apply(current, edits ?? noEdits(), now, browserClose);
    if (ends(next, now)) {
      model.sessions.set(target, null);
      if (edits?.rotation) dropRotated();
      count(counts, "ended by its save");
      this.#end();
      return true;
    }
    if (followed) {
      // Landed on the session another request rotated: its id is not this
      // request's to send.
      model.sessions.set(target, next);
      this.#cookie = "none";
      count(counts, "landed on a rotated session");
      return true;
    }
    // Merged onto another request's changes: the data held is no longer
    // the stored record with this request's changes.
    if (current !== held.rec) this.#merged = true;
    if (edits?.rotation) {
      model.sessions.set(target, null);
      this.held = { id: adoptRotated(next), rec: next };
      model.forwards.set(target, this.held.id);
      this.#cookie = "send";
      count(counts, "rotated");
      return true;
    }
    model.sessions.set(target, next);
    this.held = { id: target, rec: next };
    if (!save) {
      count(counts, "touched");
    } else {
      this.#cookie = "send";
      count(counts, current === held.rec ? "saved" : "merged");
    }
    return true;
  }

  /**
   * The response's save, in the model, and the cookie the response must
   * send. `rotatedTo` and `created` as for a save.
   */
  respond(rotatedTo: string | null, created: () => string): CookieRule {
    this.#save(rotatedTo, created);
    // No save decided: an unknown, forged, expired or logged-out cookie is
    // cleared.
    const action = this.#cookie ??
      (this.held === null && this.cookieIn ? "clear" : "none");
    if (action !== "send") return { kind: action };
    const { id, rec } = this.held!;
    return {
      kind: "send",
      id,
      // Rounded up: the cookie must not end before the session does.
      maxAge: rec.browserSession
        ? null
        : Math.max(0, Math.ceil((rec.absoluteExpiresAt - this.now) / 1000)),
    };
  }
}

// -- The system under test, and the commands ----------------------------------

interface Real {
  clock: { now: number };
  /** What the handlers' latest request answered so far. */
  trace: { results: Result[] };
  pause: Pause;
  /** withSession over the store. */
  here: Deno.ServeHandler;
  /** withSession over the store's twin: another process. */
  there: Deno.ServeHandler;
  opened: OpenStore;
}

type Answer = Body & { setCookie: string | null };

/** A request with session cookies of `ids`, in that order. */
async function send(
  handler: Deno.ServeHandler,
  ids: string[],
  ops: Op[],
): Promise<Answer> {
  const client = new Client(handler);
  client.cookie = ids.length === 0
    ? null
    : ids.map((id) => `sessionid=${id}`).join("; ");
  const script = encodeURIComponent(JSON.stringify(ops));
  return await client.json<Body>(`/run?script=${script}`);
}

/**
 * Checks a response against the model's request, saves the request in the
 * model, and returns the id the cookie jar holds afterwards (`jar` when the
 * response sent no cookie).
 */
function check(
  request: ModelRequest,
  answer: Answer,
  jar: string | null,
): string | null {
  const { expected } = request;
  assert.deepEqual(answer.seen, expected.seen, "the session as loaded");
  assert.deepEqual(answer.results, expected.results, "what the ops answered");
  const rotatedTo = request.edits?.rotation ? answer.after.id : null;
  if (rotatedTo !== null) {
    assert.notEqual(rotatedTo, request.held?.id, "rotate() gives a new id");
    assert.deepEqual(answer.after, { ...expected.after, id: rotatedTo });
  } else {
    assert.deepEqual(answer.after, expected.after, "the session after the ops");
  }
  const sent = answer.setCookie === null
    ? null
    : parseSetCookie(answer.setCookie);
  const rule = request.respond(rotatedTo, () => {
    assert.ok(sent !== null, "a new session sends its cookie");
    return sent.value;
  });
  switch (rule.kind) {
    case "none":
      assert.equal(answer.setCookie, null, "no cookie");
      return jar;
    case "clear":
      assert.ok(sent !== null, "the cookie is cleared");
      assert.equal(sent.value, "");
      assert.equal(sent.attributes.get("max-age"), "0");
      return null;
    case "send": {
      assert.ok(sent !== null, "the cookie is sent");
      assert.equal(sent.name, "sessionid");
      assert.equal(sent.value, rule.id);
      const { attributes } = sent;
      if (rule.maxAge === null) {
        assert.ok(!attributes.has("max-age"), "a browser-session cookie");
        assert.ok(!attributes.has("expires"), "a browser-session cookie");
      } else {
        assert.equal(attributes.get("max-age"), String(rule.maxAge));
        assert.equal(
          attributes.get("expires"),
          new Date(request.now + rule.maxAge * 1000).toUTCString(),
        );
      }
      return rule.id;
    }
  }
}

/** Every id the model knows holds in the store what the model says, and a dead one opens nothing. */
async function checkStore(model: Model, real: Real) {
  for (const [id, rec] of model.sessions) {
    const stored = await real.opened.store.get(storeKey(id));
    if (rec === null) {
      assert.ok(
        stored === null || stored.record.movedTo !== undefined ||
          Object.keys(stored.record.data).length === 0,
        `${id} must open nothing, and the store holds ${
          JSON.stringify(stored?.record)
        }`,
      );
      continue;
    }
    assert.ok(stored !== null, `${id} is stored`);
    const { record } = stored;
    assert.deepEqual(
      {
        data: record.data,
        createdAt: record.createdAt,
        lastActiveAt: record.lastActiveAt,
        absoluteExpiresAt: record.absoluteExpiresAt,
        expiresAt: record.expiresAt,
        browserSession: record.browserSession,
        idleTimeoutMs: record.idleTimeoutMs,
        movedTo: record.movedTo,
      },
      {
        data: Object.fromEntries(rec.data),
        createdAt: rec.createdAt,
        lastActiveAt: rec.lastActiveAt,
        absoluteExpiresAt: rec.absoluteExpiresAt,
        expiresAt: expiresAtOf(rec),
        browserSession: rec.browserSession,
        idleTimeoutMs: rec.idleMs,
        movedTo: undefined,
      },
      `the stored record of ${id}`,
    );
  }
}

type Cmd = fc.AsyncCommand<Model, Real>;

const show = (ops: Op[]) => JSON.stringify(ops);

/** A request with the jar's cookie. */
class RequestCommand implements Cmd {
  constructor(readonly ops: Op[]) {}
  check = () => true;
  async run(model: Model, real: Real) {
    count(model.counts, "commands");
    count(model.counts, "requests sent");
    count(model.counts, "single requests");
    const answer = await send(real.here, jarOf(model), this.ops);
    const request = new ModelRequest(model, jarOf(model))
      .perform(this.ops, answer.results);
    model.jar = check(request, answer, model.jar);
    await checkStore(model, real);
  }
  toString = () => `request ${show(this.ops)}`;
}

/**
 * Two requests with the jar's cookie, the second run whole while the first
 * holds at its `gate` op (between its load and its save), in this process
 * or another, `gap` ms later by the clock (earlier: another process's
 * clock behind).
 */
class InterleaveCommand implements Cmd {
  constructor(
    readonly first: Op[],
    readonly second: Op[],
    readonly place: "this process" | "another process",
    readonly gap: number,
  ) {}
  check = () => true;
  async run(model: Model, real: Real) {
    count(model.counts, "commands");
    count(model.counts, "requests sent", 2);
    count(model.counts, `interleaved pairs, ${this.place}`);
    const cookie = model.jar;
    const cookies = jarOf(model);
    const { reached, resume } = real.pause.arm();
    const firstAnswer = send(real.here, cookies, this.first);
    await reached;
    const gate = this.first.findIndex(({ op }) => op === "gate");
    const first = new ModelRequest(model, cookies)
      .perform(this.first.slice(0, gate), real.trace.results);
    const start = model.now;
    model.now = real.clock.now = start + this.gap;
    const handler = this.place === "this process" ? real.here : real.there;
    const answer = await send(handler, cookies, this.second);
    const second = new ModelRequest(model, cookies)
      .perform(this.second, answer.results);
    const jar = check(second, answer, cookie);
    model.now = real.clock.now = Math.max(start, start + this.gap);
    resume();
    const rest = await firstAnswer;
    first.perform(this.first.slice(gate), rest.results.slice(gate));
    // The browser keeps the cookie of the later response, the first one's.
    model.jar = check(first, rest, jar);
    await checkStore(model, real);
  }
  toString = () =>
    `interleave (${this.place}) ${show(this.first)} around ${
      show(this.second)
    } ${this.gap} ms later`;
}

/** The clock moves on. */
class TickCommand implements Cmd {
  constructor(readonly ms: number) {}
  check = () => true;
  run(model: Model, real: Real) {
    count(model.counts, "commands");
    model.now += this.ms;
    real.clock.now = model.now;
    return Promise.resolve();
  }
  toString = () => `tick +${this.ms} ms`;
}

/** The clock moves to just before, at or after a deadline of the jar's session. */
class TickToCommand implements Cmd {
  constructor(
    readonly to: "touch" | "idle" | "absolute",
    readonly delta: number,
  ) {}
  check = () => true;
  run(model: Model, real: Real) {
    count(model.counts, "commands");
    const rec = model.jar === null ? null : model.sessions.get(model.jar);
    if (rec === null || rec === undefined) return Promise.resolve();
    const idle = idleOf(rec);
    const at = this.to === "absolute"
      ? rec.absoluteExpiresAt
      : idle === null
      ? null
      : this.to === "idle"
      ? rec.lastActiveAt + idle
      : rec.lastActiveAt + touchIntervalOf(idle);
    if (at !== null && at + this.delta > model.now) {
      model.now = at + this.delta;
      real.clock.now = model.now;
    }
    return Promise.resolve();
  }
  toString = () =>
    `tick to ${this.to} ${this.delta >= 0 ? "+" : ""}${this.delta} ms`;
}

/**
 * A request with the cookie of an id seen earlier (rotated away, logged
 * out, expired, or another session's), alone or planted before the jar's
 * (cookie tossing): it opens only what the model says.
 */
class OldCookieCommand implements Cmd {
  constructor(
    readonly pick: number,
    readonly planted: boolean,
    readonly ops: Op[],
  ) {}
  check = () => true;
  async run(model: Model, real: Real) {
    count(model.counts, "commands");
    const ids = [...model.sessions.keys()];
    if (ids.length === 0) return;
    const id = ids[this.pick % ids.length];
    const state = model.sessions.get(id) === null ? "dead" : "live";
    count(model.counts, "requests sent");
    count(
      model.counts,
      `old cookies of ${state} ids${this.planted ? ", planted" : ""}`,
    );
    const cookies = this.planted ? [id, ...jarOf(model)] : [id];
    const answer = await send(real.here, cookies, this.ops);
    const request = new ModelRequest(model, cookies)
      .perform(this.ops, answer.results);
    const jar = check(request, answer, id);
    // The browser keeps what the response set, for the jar's cookie too
    // when it went along.
    if (this.planted || id === model.jar) {
      model.jar = answer.setCookie === null ? model.jar : jar;
    }
    await checkStore(model, real);
  }
  toString = () =>
    `old cookie #${this.pick}${
      this.planted ? " planted before the jar's" : ""
    } ${show(this.ops)}`;
}

/** The jar's cookie, as the ids a request carries. */
function jarOf(model: Model): string[] {
  return model.jar === null ? [] : [model.jar];
}

// -- Arbitraries ---------------------------------------------------------------

const keyArb = fc.constantFrom("a", "b", "c", "__proto__");
const valueArb: fc.Arbitrary<Json> = fc.oneof(
  fc.integer({ min: -3, max: 3 }),
  fc.string({ maxLength: 3 }),
  fc.constant(null),
  fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }),
  fc.record({ n: fc.integer({ min: 0, max: 3 }) }, { noNullPrototype: true }),
);
const DAY_S = 86_400;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("set" as const),
      key: keyArb,
      value: valueArb,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("setDefault" as const),
      key: keyArb,
      value: valueArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constantFrom("get" as const, "delete" as const, "pop" as const),
      key: keyArb,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constantFrom("clear" as const, "flush" as const),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ op: "rotate" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "save" as const }) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.record({
        op: fc.constant("setExpiry" as const),
        seconds: fc.oneof(
          fc.integer({ min: 1, max: 5 }),
          fc.integer({ min: 1, max: 900 }),
          fc.constantFrom(1.5, 400 * DAY_S, 400 * DAY_S + 1, -5),
        ),
      }),
      fc.record({
        op: fc.constant("setExpiry" as const),
        date: fc.oneof(
          fc.integer({ min: -3_000, max: 3_000 }),
          fc.integer({ min: -120_000, max: 900_000 }),
          fc.constantFrom(0, 1, 400 * DAY_S * 1000 + 1),
        ),
      }),
      fc.record({
        op: fc.constant("setExpiry" as const),
        value: fc.constantFrom(0 as const, null),
      }),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("setIdleTimeout" as const),
      seconds: fc.oneof(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 180 }),
        fc.constantFrom(60, "Infinity" as const, null, 0, -1),
      ),
    }),
  },
);
const opsArb = fc.array(opArb, { maxLength: 3 });

const requestArb = opsArb.map((ops) => new RequestCommand(ops));
/** The first request's ops, with the gate somewhere among them. */
const gatedOpsArb = fc.tuple(opsArb, fc.nat()).map(([ops, at]) => {
  const gate = at % (ops.length + 1);
  return [...ops.slice(0, gate), { op: "gate" as const }, ...ops.slice(gate)];
});
const interleaveArb = fc.oneof(
  fc.constant("this process" as const),
  fc.constant("another process" as const),
).chain((place) =>
  fc.tuple(
    gatedOpsArb,
    opsArb,
    // Another process's clock may run behind this one's.
    place === "this process"
      ? fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 8_000 }))
      : fc.oneof(
        fc.constant(0),
        fc.integer({ min: -3_000, max: -1 }),
        fc.integer({ min: 1, max: 8_000 }),
      ),
  ).map(([first, second, gap]) =>
    new InterleaveCommand(first, second, place, gap)
  )
);
const tickArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 3_000 }) },
  { weight: 3, arbitrary: fc.integer({ min: 4_000, max: 15_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 50_000, max: 70_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 590_000, max: 700_000 }) },
).map((ms) => new TickCommand(ms));
const tickToArb = fc.tuple(
  fc.constantFrom("touch" as const, "idle" as const, "absolute" as const),
  fc.constantFrom(-1, 0, 1),
).map(([to, delta]) => new TickToCommand(to, delta));
const oldCookieArb = fc.tuple(
  fc.nat(64),
  fc.boolean(),
  fc.oneof(fc.constant<Op[]>([]), opsArb),
).map(([pick, planted, ops]) => new OldCookieCommand(pick, planted, ops));

/** fc.commands picks among these alike: a repeated one comes more often. */
const commandArbs: fc.Arbitrary<Cmd>[] = [
  requestArb,
  requestArb,
  requestArb,
  interleaveArb,
  interleaveArb,
  tickArb,
  tickArb,
  tickToArb,
  oldCookieArb,
];

// -- The tests -------------------------------------------------------------------

for (const { name, open } of STORES) {
  Deno.test(`model: random session operations on ${name} match the model`, async () => {
    const opened = await open();
    const twin = opened.twin();
    const counts: Counts = {};
    let sequences = 0;
    // First, so that a run cut short can still be replayed.
    console.log(`${name}: seed ${SEED}, ${RUNS} runs`);
    const started = performance.now();
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.boolean(),
          fc.boolean(),
          fc.commands(commandArbs, {
            size: "max",
            maxCommands: MAX_COMMANDS,
            replayPath: args.replay,
          }),
          async (browserClose, saveEveryRequest, cmds) => {
            sequences++;
            const clock = { now: 0 };
            const options = {
              absoluteTimeout: ABSOLUTE_MS / 1000,
              idleTimeout: IDLE_MS / 1000,
              touchInterval: TOUCH_MS / 1000,
              expireAtBrowserClose: browserClose,
              saveEveryRequest,
              rotationGrace: 0, // a rotated-away id opens nothing at once
              now: () => clock.now,
            };
            const pause = new Pause();
            const trace = { results: [] };
            const real: Real = {
              clock,
              trace,
              pause,
              here: withSession(modelApp(pause, clock, trace), {
                ...options,
                store: opened.store,
              }),
              there: withSession(modelApp(new Pause(), clock, trace), {
                ...options,
                store: twin,
              }),
              opened,
            };
            await fc.asyncModelRun(() => {
              const model = new Model(browserClose, saveEveryRequest, counts);
              clock.now = model.now;
              return { model, real };
            }, cmds);
          },
        ),
        { seed: SEED, numRuns: RUNS, path: args.path },
      );
    } finally {
      await opened.close();
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `${name}: seed ${SEED}, ${sequences} sequences in ${seconds} s; ${
        Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(", ")
      }`,
    );
  });
}
