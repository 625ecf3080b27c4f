/**
 * Micro benchmarks: `deno bench --allow-read --allow-write --allow-env bench/`.
 * Each group puts our code beside the baselines it replaces, in the same run.
 *
 * @module
 */

import { createHmac, timingSafeEqual } from "node:crypto";
import {
  FileStore,
  getSession,
  KvStore,
  MemoryStore,
  withSession,
} from "../mod.ts";
import type { SessionRecord, SessionStore } from "../mod.ts";
import { getCookieValues, SetCookieFormat } from "../src/cookie.ts";
import { CookieVerifier, generateId, Signer, storeKey } from "../src/id.ts";
import { assertJsonValue, type SessionData } from "../src/json.ts";
import { decodeRecord, encodeRecord } from "../src/record.ts";

const id = generateId();
const secret = "bench-secret-0123456789abcdef0123456789abcdef";
const signer = new Signer([secret]);
const signed = signer.sign(id);
const forged = `${id}.${"A".repeat(43)}`;
const cookieHeader =
  `_ga=GA1.1.123456789.1700000000; theme=dark; sessionid=${id}; csrftoken=abcdefghijklmnopqrstuvwxyz012345`;

// Cookie parse and serialize.

Deno.bench("cookie: parse a 4-cookie header", { group: "cookie" }, () => {
  getCookieValues(cookieHeader, "sessionid");
});

const cookieFormat = new SetCookieFormat("sessionid", {
  path: "/",
  httpOnly: true,
  sameSite: "Lax",
  partitioned: false,
});

Deno.bench("cookie: serialize with Max-Age and Expires", {
  group: "cookie",
}, () => {
  cookieFormat.set(id, false, 1_209_600, 1_700_000_000_000);
});

// Id generation.

Deno.bench("id: generateId (32 random bytes, base64url)", {
  group: "id",
  baseline: true,
}, () => {
  generateId();
});

Deno.bench(
  "id: crypto.randomUUID (baseline, 122 bits)",
  { group: "id" },
  () => {
    crypto.randomUUID();
  },
);

// The store key: SHA-256 of the id.

Deno.bench("digest: storeKey (node:crypto createHash, hex)", {
  group: "digest",
  baseline: true,
}, () => {
  storeKey(id);
});

Deno.bench("digest: crypto.subtle.digest SHA-256 + hex", {
  group: "digest",
}, async () => {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(id)),
  );
  let hex = "";
  for (const byte of digest) hex += byte.toString(16).padStart(2, "0");
});

// Sign and verify the cookie value (HMAC-SHA256).

Deno.bench("sign: Signer.sign (node:crypto, padded key hashed once)", {
  group: "sign",
  baseline: true,
}, () => {
  signer.sign(id);
});

const subtleKey = await crypto.subtle.importKey(
  "raw",
  new TextEncoder().encode(secret),
  { name: "HMAC", hash: "SHA-256" },
  false,
  ["sign", "verify"],
);

Deno.bench("sign: crypto.subtle.sign HMAC (key imported once)", {
  group: "sign",
}, async () => {
  await crypto.subtle.sign("HMAC", subtleKey, new TextEncoder().encode(id));
});

Deno.bench("sign: node:crypto createHmac", { group: "sign" }, () => {
  createHmac("sha256", secret).update(id).digest("base64url");
});

Deno.bench("verify: Signer.verify (valid)", {
  group: "verify",
  baseline: true,
}, () => {
  if (signer.verify(signed) === null) throw new Error("rejected");
});

Deno.bench("verify: Signer.verify (forged)", { group: "verify" }, () => {
  if (signer.verify(forged) !== null) throw new Error("accepted");
});

// What the middleware runs: a remembered value is one Map lookup (a copy of
// the value, as a fresh header would give, so that no cached hash helps).
const verifier = new CookieVerifier(signer);
verifier.remember(verifier.verify(signed)!);
const fresh = () => (signed + " ").slice(0, -1);

Deno.bench("verify: CookieVerifier, remembered value", {
  group: "verify",
}, () => {
  if (verifier.verify(fresh()) === null) throw new Error("rejected");
});

Deno.bench("verify: CookieVerifier, forged value", {
  group: "verify",
}, () => {
  if (verifier.verify(forged) !== null) throw new Error("accepted");
});

const subtleSignature = new Uint8Array(
  await crypto.subtle.sign("HMAC", subtleKey, new TextEncoder().encode(id)),
);

Deno.bench("verify: crypto.subtle.verify HMAC (key imported once)", {
  group: "verify",
}, async () => {
  const ok = await crypto.subtle.verify(
    "HMAC",
    subtleKey,
    subtleSignature,
    new TextEncoder().encode(id),
  );
  if (!ok) throw new Error("rejected");
});

const nodeSignature = createHmac("sha256", secret).update(id).digest();

Deno.bench("verify: node:crypto createHmac + timingSafeEqual", {
  group: "verify",
}, () => {
  const mac = createHmac("sha256", secret).update(id).digest();
  if (!timingSafeEqual(mac, nodeSignature)) throw new Error("rejected");
});

// JSON validation of what a handler sets, 1 KiB and 32 KiB of session data.

function sessionOf(bytes: number): SessionData {
  const cart: { sku: string; qty: number; price: number; tags: string[] }[] =
    [];
  const data: SessionData = {
    user: "user-1234",
    roles: ["reader", "writer"],
    prefs: { theme: "dark", lang: "en", tz: "Europe/Berlin" },
    cart,
  };
  while (JSON.stringify(data).length < bytes) {
    cart.push({
      sku: `SKU-${cart.length}`,
      qty: cart.length % 5,
      price: 9.99,
      tags: ["a", "b"],
    });
  }
  return data;
}

for (
  const [label, bytes] of [["1 KiB", 1024], ["32 KiB", 32 * 1024]] as const
) {
  const data = sessionOf(bytes);
  const record: SessionRecord = {
    data,
    createdAt: 1,
    lastActiveAt: 1,
    absoluteExpiresAt: 2,
    expiresAt: 2,
    browserSession: false,
  };
  const text = encodeRecord(record);
  Deno.bench(`json ${label}: assertJsonValue (what set() checks)`, {
    group: `json ${label}`,
    baseline: true,
  }, () => {
    for (const [key, value] of Object.entries(data)) {
      assertJsonValue(key, value);
    }
  });
  Deno.bench(`json ${label}: JSON.stringify (reference)`, {
    group: `json ${label}`,
  }, () => {
    JSON.stringify(data);
  });
  Deno.bench(`json ${label}: decodeRecord (parse + shape check)`, {
    group: `json ${label}`,
  }, () => {
    decodeRecord(text);
  });
}

// One load + save round trip per store: get, change, conditional set.

const benchDir = await Deno.makeTempDir({ prefix: "session_micro_bench_" });
const kv = await Deno.openKv(`${benchDir}/bench.kv`);
const stores: [string, SessionStore & { close?(): unknown }][] = [
  ["MemoryStore", new MemoryStore({ sweepInterval: 0 })],
  ["KvStore (SQLite file)", new KvStore(kv)],
  ["FileStore", new FileStore(`${benchDir}/sessions`, { sweepInterval: 0 })],
];
globalThis.addEventListener("unload", () => {
  for (const [, store] of stores) store.close?.();
  kv.close();
  Deno.removeSync(benchDir, { recursive: true });
});

for (const [name, store] of stores) {
  const key = storeKey(generateId());
  const now = Date.now();
  await store.set(key, {
    data: sessionOf(200),
    createdAt: now,
    lastActiveAt: now,
    absoluteExpiresAt: now + 3_600_000,
    expiresAt: now + 3_600_000,
    browserSession: false,
  }, { version: null });
  Deno.bench(`store: ${name} get + set`, { group: "store" }, async () => {
    const stored = await store.get(key);
    stored!.record.data.n = Math.random();
    const version = await store.set(key, stored!.record, {
      version: stored!.version,
    });
    if (version === null) throw new Error("lost a race with itself");
  });
  Deno.bench(`store: ${name} get`, { group: "store" }, async () => {
    if (await store.get(key) === null) throw new Error("gone");
  });
}

// A whole request through the middleware, in process (no HTTP): what the
// library adds to a handler.

const info: Deno.ServeHandlerInfo = {
  remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
  completed: Promise.resolve(),
};

function requestBench(label: string, secrets?: string[]) {
  const store = new MemoryStore({ sweepInterval: 0 });
  let counter = 0;
  const handler = withSession(async (req) => {
    const session = await getSession<{ n: number }>(req);
    if (req.url.endsWith("/write")) session.set("n", ++counter);
    return new Response(String(session.get("n")));
  }, { store, secrets, idleTimeout: 1800, touchInterval: 60 });
  let cookie: string | undefined;
  const group = `request${secrets ? ", secrets" : ""}`;
  for (const route of ["/read", "/write"]) {
    Deno.bench(`request${label}: ${route} in process`, { group }, async () => {
      if (cookie === undefined) {
        const first = await handler(new Request("http://x/write"), info);
        cookie = first.headers.get("set-cookie")!.split(";")[0];
      }
      const response = await handler(
        new Request(`http://x${route}`, { headers: { cookie } }),
        info,
      );
      if (response.status !== 200) throw new Error(String(response.status));
    });
  }
}

Deno.bench("request: bare Response (reference)", { group: "request" }, () => {
  new Request("http://x/read", { headers: { cookie: `sessionid=${id}` } });
  new Response("1");
});
requestBench("");
requestBench(", secrets", [secret]);
