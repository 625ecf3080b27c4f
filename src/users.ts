/**
 * Sessions that know their user: with the `userKey` option, a store that is
 * a `UserIndex` files every session under its signed-in user, and these
 * functions list them (a device page) or end them (log out everywhere).
 *
 * @module
 */

import { MAX_HOPS, opensSession, writerFor } from "./write.ts";
import { handleOf } from "./id.ts";
import { sessionEvent } from "./events.ts";
import { heldKey, type Session } from "./session.ts";
import type { SessionData } from "./json.ts";
import {
  isUserIndex,
  type SessionStore,
  type UserIndex,
  type UserSessionEntry,
} from "./store.ts";

/** One live session of a user, as a device list shows it. */
export interface UserSession {
  /**
   * An opaque handle, the same as `Session.handle`: not the session id, and
   * not enough to find it or to make a cookie.
   */
  handle: string;
  /** When the session was created. */
  createdAt: Date;
  /** When a request last read or wrote it, as last stored. */
  lastActiveAt: Date;
  /** When it expires if no request comes: the earlier of its deadlines. */
  expiresAt: Date;
  /** Its cookie lasts only until the browser closes. */
  browserSession: boolean;
}

/** How many times `endUserSessions` lists the user again after ending what it found. */
const END_ROUNDS = 3;

function indexOf(store: SessionStore): UserIndex {
  if (!isUserIndex(store)) {
    throw new TypeError(
      "this store does not file sessions by user (it is not a UserIndex: MemoryStore, KvStore, FileStore and RedisStore are)",
    );
  }
  return store;
}

/** Options of {@linkcode listUserSessions} and {@linkcode endUserSessions}. */
export interface UserSessionsOptions {
  /**
   * Clock in epoch milliseconds that decides which sessions are still live:
   * the middleware's `now`, when its tests drive time. Default `Date.now`.
   */
  now?: () => number;
}

/**
 * The entries filed under `userId` that are live sessions of that user now.
 * A store may list a filing and read its record in two steps (KV's list,
 * then getMany): a rotation between them shows as the forwarding record the
 * rotation left, so that one is followed to the rotated session.
 */
async function liveEntries(
  store: SessionStore,
  userId: string,
  now: number,
): Promise<UserSessionEntry[]> {
  const live = new Map<string, UserSessionEntry["stored"]>();
  for (let { key, stored } of await indexOf(store).listUser(userId)) {
    for (let hops = 0; stored.record.movedTo !== undefined; hops++) {
      const next = hops === MAX_HOPS
        ? null
        : await store.get(key = stored.record.movedTo);
      if (next === null) break;
      stored = next;
    }
    // The index may still hold an entry its store has not collected yet: only
    // the record itself says whether the session is live, and whose it is.
    const { record } = stored;
    if (
      record.user === userId && opensSession(record) &&
      now < record.expiresAt && now < record.absoluteExpiresAt
    ) live.set(key, stored);
  }
  return [...live].map(([key, stored]) => ({ key, stored }));
}

/**
 * The live sessions of `userId` (the value of the `userKey` data key, as a
 * string), most recently active first: what a "you are signed in on 3
 * devices" page shows. Costs in proportion to that user's sessions, not to
 * all sessions. Rejects with a TypeError for a store that is not a
 * `UserIndex`.
 *
 * @example
 * ```ts
 * import { getSession, listUserSessions, MemoryStore, withSession } from "@denokit/session";
 *
 * const store = new MemoryStore({ sweepInterval: 0 });
 * const handler = withSession(async (req) => {
 *   const session = await getSession(req);
 *   const userId = session.get("userId");
 *   if (typeof userId !== "string") return new Response("log in first", { status: 401 });
 *   const devices = await listUserSessions(store, userId);
 *   return Response.json(devices.map((device) => ({
 *     ...device,
 *     thisOne: device.handle === session.handle,
 *   })));
 * }, { store, userKey: "userId" });
 * ```
 */
export async function listUserSessions(
  store: SessionStore,
  userId: string,
  options: UserSessionsOptions = {},
): Promise<UserSession[]> {
  const now = options.now ?? Date.now;
  const entries = await liveEntries(store, String(userId), now());
  return entries
    .map(({ key, stored: { record } }) => ({
      handle: handleOf(key),
      createdAt: new Date(record.createdAt),
      lastActiveAt: new Date(record.lastActiveAt),
      expiresAt: new Date(record.expiresAt),
      browserSession: record.browserSession,
    }))
    .sort((a, b) => b.lastActiveAt.getTime() - a.lastActiveAt.getTime());
}

/**
 * Ends every session of `userId` (after a password change), or with
 * `except` every one but the given request's own ("log out my other
 * devices"); resolves to how many it ended. A request already running on an
 * ended session does not bring it back when it saves, and a session that a
 * racing login rotated meanwhile is ended too (the user is listed again until
 * nothing is left, up to three times). Each is told to the `onEvent` hooks
 * of the middleware on this store as `ended`. Rejects with a TypeError for a
 * store that is not a `UserIndex`.
 *
 * @example
 * ```ts
 * import { endUserSessions, getSession, MemoryStore, withSession } from "@denokit/session";
 *
 * const store = new MemoryStore({ sweepInterval: 0 });
 * const handler = withSession(async (req) => {
 *   const session = await getSession(req);
 *   const userId = session.get("userId");
 *   if (typeof userId !== "string") return new Response("log in first", { status: 401 });
 *   const ended = await endUserSessions(store, userId, { except: session });
 *   return new Response(`logged out of ${ended} other devices`);
 * }, { store, userKey: "userId" });
 * ```
 */
export async function endUserSessions<T extends SessionData>(
  store: SessionStore,
  userId: string,
  options: UserSessionsOptions & { except?: Session<T> } = {},
): Promise<number> {
  const now = options.now ?? Date.now;
  const user = String(userId);
  const keep = options.except === undefined ? null : heldKey(options.except);
  const writer = writerFor(store);
  let ended = 0;
  for (let round = 0; round < END_ROUNDS; round++) {
    const entries = (await liveEntries(store, user, now())).filter(({ key }) =>
      key !== keep
    );
    if (entries.length === 0) break;
    await Promise.all(entries.map(({ key }) => store.delete(key)));
    const atMs = now();
    for (const { key } of entries) {
      writer.emitToAll(() => sessionEvent("ended", atMs, key, user));
    }
    ended += entries.length;
  }
  return ended;
}
