/**
 * A bounded memo of checked values: what a cookie value was found to hold,
 * so that the same value, coming back on the next request, skips the
 * checks (a digest and an HMAC, or a decryption). Only an exact match is
 * taken, so a forged or altered value always gets the full check.
 *
 * @module
 */

/**
 * At most `capacity` entries, and at most `budget` characters of keys, the
 * oldest entry dropped first.
 */
export class Memo<V> {
  readonly #entries = new Map<string, V>();
  readonly #capacity: number;
  readonly #budget: number;
  #characters = 0;

  constructor(capacity: number, budget = Infinity) {
    this.#capacity = capacity;
    this.#budget = budget;
  }

  /** How many entries are kept. */
  get size(): number {
    return this.#entries.size;
  }

  /** The entry of exactly `key`, if kept. */
  get(key: string): V | undefined {
    return this.#entries.get(key);
  }

  /** Keeps `value` under `key`, dropping the oldest entries past the bounds. */
  set(key: string, value: V): void {
    if (key.length > this.#budget) return;
    this.delete(key);
    this.#entries.set(key, value);
    this.#characters += key.length;
    for (const oldest of this.#entries.keys()) {
      if (
        this.#entries.size <= this.#capacity &&
        this.#characters <= this.#budget
      ) break;
      this.delete(oldest);
    }
  }

  /** Forgets `key`. */
  delete(key: string): void {
    if (this.#entries.delete(key)) this.#characters -= key.length;
  }
}
