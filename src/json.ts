/**
 * The JSON rule for session values: what `Session.set` accepts is exactly
 * what survives `JSON.stringify` and `JSON.parse` unchanged.
 *
 * @module
 */

/** A value that round-trips through JSON unchanged. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/**
 * The data of a session: string keys, JSON values. Type a session's data
 * with a `type` alias of this shape (an `interface` has no index signature).
 *
 * @example
 * ```ts
 * import { getSession } from "@denokit/session";
 *
 * type Cart = { user: string; items: Array<{ sku: string; qty: number }> };
 * async function addItem(req: Request, sku: string) {
 *   const session = await getSession<Cart>(req);
 *   const items = session.get("items") ?? [];
 *   session.set("items", [...items, { sku, qty: 1 }]);
 * }
 * ```
 */
export type SessionData = Record<string, JsonValue>;

/** Whether `data` has no keys. */
export function isEmptyData(data: SessionData): boolean {
  for (const _ in data) return false;
  return true;
}

/**
 * Sets an own property of `data`, `"__proto__"` included (which plain
 * assignment would take for the prototype).
 */
export function setData(data: SessionData, key: string, value: JsonValue) {
  if (key === "__proto__") {
    Object.defineProperty(data, key, {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  } else {
    data[key] = value;
  }
}

/**
 * Throws a TypeError naming `key` and the path inside the value when `value`
 * is not JSON: undefined, functions, symbols, BigInt, NaN and the infinities,
 * sparse arrays, objects other than plain objects and arrays (Date, Map, class
 * instances, ...), and cycles.
 */
export function assertJsonValue(key: string, value: unknown): void {
  if (isJson(value, 0)) return;
  const problem = findProblem(value, key, new Set());
  if (problem !== null) {
    throw new TypeError(
      `Session value for key ${JSON.stringify(key)} is not JSON: ${problem}`,
    );
  }
}

/** Nesting past which {@linkcode isJson} leaves the value to the full check. */
const MAX_FAST_DEPTH = 64;

/**
 * The common case, fast: true when `value` is JSON, building no path strings
 * and keeping no set of ancestors (a cycle only makes it deeper than
 * {@linkcode MAX_FAST_DEPTH}). False when it is not JSON, or too deep to tell
 * here: {@linkcode findProblem} then says which, and where.
 */
function isJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object":
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (depth === MAX_FAST_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!(i in value) || !isJson(value[i], depth + 1)) return false;
    }
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  if (Object.getOwnPropertySymbols(value).length > 0) return false;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  for (let i = 0; i < keys.length; i++) {
    if (!isJson(record[keys[i]], depth + 1)) return false;
  }
  return true;
}

function findProblem(
  value: unknown,
  path: string,
  ancestors: Set<object>,
): string | null {
  switch (typeof value) {
    case "string":
    case "boolean":
      return null;
    case "number":
      return Number.isFinite(value) ? null : `${path} is ${value}`;
    case "object":
      break;
    default:
      return `${path} is ${describe(value)}`;
  }
  if (value === null) return null;
  if (ancestors.has(value)) return `${path} refers back to itself (a cycle)`;
  if (Array.isArray(value)) {
    ancestors.add(value);
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) return `${path}[${i}] is a hole in a sparse array`;
      const problem = findProblem(value[i], `${path}[${i}]`, ancestors);
      if (problem !== null) return problem;
    }
    ancestors.delete(value);
    return null;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const name = proto?.constructor?.name ?? "an exotic object";
    return `${path} is a ${name}, not a plain object`;
  }
  if (Object.getOwnPropertySymbols(value).length > 0) {
    return `${path} has symbol keys`;
  }
  ancestors.add(value);
  for (const [name, item] of Object.entries(value)) {
    const problem = findProblem(item, `${path}.${name}`, ancestors);
    if (problem !== null) return problem;
  }
  ancestors.delete(value);
  return null;
}

function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol") return "a symbol";
  if (typeof value === "bigint") return "a BigInt";
  return typeof value;
}
