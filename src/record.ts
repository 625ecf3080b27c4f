/**
 * The record as text, shared by the stores that serialize: JSON, checked on
 * the way back in so that a corrupt record reads as no record, never as a
 * crash or as data of the wrong shape.
 *
 * @module
 */

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
    (record.user === undefined || typeof record.user === "string");
}
