/**
 * The record as text, shared by the stores that serialize: JSON, checked on
 * the way back in so that a corrupt record reads as no record, never as a
 * crash or as data of the wrong shape.
 *
 * @module
 */

import type { SessionData } from "./json.ts";
import type { SessionRecord } from "./store.ts";

/** Serializes a record as JSON. */
export function encodeRecord(record: SessionRecord): string {
  return JSON.stringify(record);
}

/** Parses a record written by {@linkcode encodeRecord}; `null` if it is not one. */
export function decodeRecord(text: string): SessionRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  return isRecord(value) ? value : null;
}

/** Whether `value` has the shape of a {@linkcode SessionRecord}. */
export function isRecord(value: unknown): value is SessionRecord {
  if (typeof value !== "object" || value === null) return false;
  const record = value as Record<string, unknown>;
  const data = record.data;
  return typeof data === "object" && data !== null && !Array.isArray(data) &&
    Number.isFinite(record.createdAt) && Number.isFinite(record.lastActiveAt) &&
    Number.isFinite(record.absoluteExpiresAt) &&
    Number.isFinite(record.expiresAt) &&
    typeof record.browserSession === "boolean" &&
    (record.movedTo === undefined || typeof record.movedTo === "string") &&
    (record.user === undefined || typeof record.user === "string") &&
    (record.idleTimeoutMs === undefined || record.idleTimeoutMs === null ||
      (typeof record.idleTimeoutMs === "number" && record.idleTimeoutMs > 0 &&
        Number.isFinite(record.idleTimeoutMs))) &&
    (record.successor === undefined || typeof record.successor === "string");
}

/**
 * A session too large for its store, refused before anything was written:
 * `size` and `limit` are in bytes of the store's encoding, and `largest`
 * names the keys that take the most room, largest first (at most three).
 * A handler can catch it from `await session.save()`.
 *
 * @example
 * ```ts
 * import { getSession, SessionTooLargeError, withSession } from "@denokit/session";
 *
 * const handler = withSession(async (req) => {
 *   const session = await getSession(req);
 *   session.set("upload", await req.text());
 *   try {
 *     await session.save();
 *   } catch (error) {
 *     if (!(error instanceof SessionTooLargeError)) throw error;
 *     return new Response(`Too much to keep: ${error.size} bytes`, { status: 413 });
 *   }
 *   return new Response("kept");
 * });
 * ```
 */
export class SessionTooLargeError extends RangeError {
  /** The size of the record, in bytes. */
  readonly size: number;
  /** The store's limit, in bytes. */
  readonly limit: number;
  /** The keys of the data taking the most room, with their sizes in bytes. */
  readonly largest: ReadonlyArray<readonly [key: string, bytes: number]>;

  /** `store` names the store (and its limit) in the message. */
  constructor(
    store: string,
    record: SessionRecord,
    size: number,
    limit: number,
  ) {
    const largest = largestKeys(record.data);
    super(
      `${store}: the session is ${size} bytes, over its limit of ${limit} bytes; largest keys: ${
        largest.map(([key, bytes]) => `${JSON.stringify(key)} (${bytes} bytes)`)
          .join(", ") || "none"
      }`,
    );
    this.name = "SessionTooLargeError";
    this.size = size;
    this.limit = limit;
    this.largest = largest;
  }
}

const encoder = new TextEncoder();

/** The three keys whose values take the most bytes as JSON. */
function largestKeys(data: SessionData): Array<[string, number]> {
  return Object.entries(data)
    .map(([key, value]): [string, number] => [
      key,
      encoder.encode(JSON.stringify(value)).length,
    ])
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3);
}

/** A store key: the SHA-256 hex digest of an id, as the middleware makes it. */
export const STORE_KEY = /^[0-9a-f]{64}$/;

/**
 * `key` if it is a store key; else a TypeError from `store` that does not
 * echo it (a raw session id passed by mistake would end up in a log).
 */
export function checkStoreKey(store: string, key: unknown): string {
  if (typeof key !== "string" || !STORE_KEY.test(key)) {
    const shown = typeof key === "string"
      ? `a string of ${key.length} characters`
      : typeof key;
    throw new TypeError(
      `${store}: a key must be 64 lowercase hex characters (a SHA-256 digest), got ${shown}`,
    );
  }
  return key;
}

/** Beyond this (100 years) a store writes a record without an expiry. */
export const MAX_EXPIRY_MS = 100 * 365.25 * 24 * 3_600_000;

/**
 * The per-session size limit of the stores that let one be chosen: Deno
 * KV's value limit, so that an app moves between stores unchanged.
 */
export const DEFAULT_MAX_SESSION_BYTES = 65_536;

/** `value` if it is a whole number of at least 1; else a TypeError naming the store's option. */
export function wholeCount(store: string, name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(
      `${store}: ${name} must be a whole number of at least 1, got ${value}`,
    );
  }
  return value;
}

/**
 * The UTF-8 size of `text` when it is over `limit` bytes, else null; counted
 * only when the string is long enough to be (a UTF-16 unit is 1 to 3 bytes).
 */
export function oversize(text: string, limit: number): number | null {
  if (text.length * 3 <= limit) return null;
  const bytes = encoder.encode(text).length;
  return bytes > limit ? bytes : null;
}
