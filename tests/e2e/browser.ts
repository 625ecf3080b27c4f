/** Headless Chromium for the end-to-end tests: Debian's chromium, driven by playwright-core. */

import { type Browser, type BrowserContext, chromium } from "playwright-core";

/** Where Debian's `chromium` package puts the browser (`apt-get install -y chromium`). */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * A headless browser that fetches nothing of its own (no component
 * updates, sync or background requests) and uses no GPU; `--no-sandbox`
 * because CI runs as root.
 */
const ARGS = [
  "--no-sandbox",
  "--headless",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Launches a browser with a profile of its own, gone when it closes. */
export async function launchBrowser(): Promise<Browser> {
  return await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

/**
 * Launches a browser on the profile in `userDataDir`, as a user's browser
 * starts on theirs: what it keeps across a restart is what it wrote there.
 */
export async function launchProfile(
  userDataDir: string,
): Promise<BrowserContext> {
  return await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    args: ARGS,
  });
}
