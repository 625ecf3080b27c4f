/**
 * Store call deadlines: a call that does not settle in time rejects, so
 * that a hung store never hangs a request for good. One interval serves
 * every call in flight, in every store of the process, and rejects a call
 * within a quarter of its timeout (at least 10 ms) after its deadline, on
 * the monotonic clock: setting the system clock moves no deadline.
 *
 * The interval runs while calls are in flight (and keeps the process alive
 * for them, as the calls themselves would). When the last one settles, it
 * is stopped at the end of the event loop's turn (`setImmediate`) if no
 * call came meanwhile: under load, the next request's call comes first, and
 * the interval is not stopped and started again between every two calls (a
 * start and a stop cost more than a store read). Stopped within the turn,
 * it is never left running when a test ends.
 *
 * @module
 */

import { clearInterval, setImmediate, setInterval } from "node:timers";
import type { Config } from "./options.ts";

/** `call` bounded by the `storeTimeout` of `config` (when it has one). */
export function timed<T>(
  config: Config,
  call: Promise<T>,
  what: string,
): Promise<T> {
  const ms = config.storeTimeoutMs;
  return ms === null ? call : withinTimeout(
    call,
    ms,
    () =>
      new Error(
        `Session store: ${what} did not answer within ${
          ms / 1000
        } s (storeTimeout); what it does meanwhile may still happen`,
      ),
  );
}

/** A call in flight: when it is due, and how to fail it. */
interface Watch {
  readonly deadline: number;
  readonly fail: () => void;
}

const inFlight = new Set<Watch>();

/** The interval while there is one, and how often it ticks. */
interface Ticker {
  readonly interval: ReturnType<typeof setInterval>;
  readonly tickMs: number;
}

let ticker: Ticker | null = null;
let idleCheckPending = false;

/**
 * `call`, or a rejection with `timedOut()` once `timeoutMs` passed without
 * it settling. (What the call does meanwhile cannot be stopped: a write may
 * still land after the rejection.)
 */
export function withinTimeout<T>(
  call: Promise<T>,
  timeoutMs: number,
  timedOut: () => Error,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const watch: Watch = {
      deadline: performance.now() + timeoutMs,
      fail: () => reject(timedOut()),
    };
    inFlight.add(watch);
    watchOver(timeoutMs / 4);
    call.then((value) => {
      settle(watch);
      resolve(value);
    }, (error) => {
      settle(watch);
      reject(error);
    });
  });
}

function settle(watch: Watch): void {
  inFlight.delete(watch);
  if (inFlight.size === 0 && !idleCheckPending) {
    idleCheckPending = true;
    setImmediate(stopIfIdle);
  }
}

function stopIfIdle(): void {
  idleCheckPending = false;
  if (inFlight.size === 0) stop();
}

/** The longest delay a timer takes (2^31 - 1 ms, about 24.8 days). */
const MAX_TICK_MS = 2 ** 31 - 1;

/** Starts the interval, or makes it tick at least every `ms`. */
function watchOver(ms: number): void {
  const tickMs = Math.min(MAX_TICK_MS, Math.max(10, ms));
  if (ticker !== null && ticker.tickMs <= tickMs) return;
  stop();
  ticker = { interval: setInterval(expire, tickMs), tickMs };
}

/** Rejects the calls past their deadline. */
function expire(): void {
  const now = performance.now();
  for (const watch of inFlight) {
    if (now >= watch.deadline) {
      inFlight.delete(watch);
      watch.fail();
    }
  }
  if (inFlight.size === 0) stop();
}

function stop(): void {
  if (ticker !== null) clearInterval(ticker.interval);
  ticker = null;
}
