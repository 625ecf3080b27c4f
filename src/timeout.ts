/**
 * The store timeout: a store call that does not settle in time rejects, so
 * that a hung store never hangs a request for good. One timer serves every
 * call in flight (a timer per call would cost more than a MemoryStore call):
 * it runs only while calls are in flight (and keeps the process alive for
 * them, as the calls themselves would), and rejects a call within a quarter
 * of its timeout after its deadline.
 *
 * @module
 */

import type { Config } from "./options.ts";

/** `call` bounded by the `storeTimeout` of `config` (when it has one). */
export function timed<T>(
  config: Config,
  call: Promise<T>,
  what: string,
): Promise<T> {
  const ms = config.storeTimeoutMs;
  return ms === null ? call : withinTimeout(call, ms, what);
}

/** A call in flight: when it is due, and how to fail it. */
interface Watch {
  readonly deadline: number;
  readonly fail: () => void;
}

const inFlight = new Set<Watch>();
let timer: ReturnType<typeof setInterval> | undefined;
let tickMs = Infinity;

/**
 * `call`, or a rejection with an Error naming `what` and the timeout once
 * `timeoutMs` passed without it settling. (What the store does meanwhile
 * cannot be stopped: a write may still land after the rejection.)
 */
export function withinTimeout<T>(
  call: Promise<T>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const watch: Watch = {
      deadline: Date.now() + timeoutMs,
      fail: () =>
        reject(
          new Error(
            `Session store: ${what} did not answer within ${
              timeoutMs / 1000
            } s (storeTimeout); what it does meanwhile may still happen`,
          ),
        ),
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
  if (inFlight.size === 0) stop();
}

/** Starts the timer, or makes it tick at least every `ms`. */
function watchOver(ms: number): void {
  const tick = Math.max(10, ms);
  if (timer !== undefined && tickMs <= tick) return;
  stop();
  tickMs = tick;
  timer = setInterval(() => {
    const now = Date.now();
    for (const watch of inFlight) {
      if (now >= watch.deadline) {
        inFlight.delete(watch);
        watch.fail();
      }
    }
    if (inFlight.size === 0) stop();
  }, tick);
}

function stop(): void {
  clearInterval(timer);
  timer = undefined;
  tickMs = Infinity;
}
