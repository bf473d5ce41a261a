// Talking to the Kinchart bridge on this computer (docs/api.md). Used by the service worker only.
//
// storage.local holds exactly three things: the bridge's port, and what pairing gave: the client id
// and a random 256-bit key. The key never leaves the browser again. Before anything is sent, the
// program on the port must prove it holds the key (POST /api/hello: an HMAC over a fresh nonce of
// ours and a one-time nonce of its own); every request is then signed for that one nonce, its body is
// sealed (AES-GCM), and only an answer sealed for the same nonces counts. A program that merely took
// the port learns nothing but the client id, and can never make the popup claim a save.

export const DEFAULT_PORT = 47213;
export const CLIENT_VERSION = "0.1.0";
const CLIENT_HEADER = "extension/" + CLIENT_VERSION;
const TIMEOUT_MS = 20000;
const SEALED = "application/vnd.kinchart.sealed";

// What the caregiver reads for each failure: what failed and what to do.
export const MESSAGES = {
  bridge_not_running:
    "Kinchart is not running on this computer. Start Kinchart, then try again.",
  not_kinchart:
    "Something other than Kinchart is answering on the bridge's port. Check the port in the extension's options, or start Kinchart.",
  not_verified:
    "The program answering on Kinchart's port could not prove it is your paired Kinchart, so nothing was sent to it. Start Kinchart (or check the port in the extension's options).",
  locked:
    "Kinchart is locked. Unlock it in the Kinchart dashboard, then try again.",
  not_paired:
    "This browser is not paired with Kinchart. Enter the pairing code from the dashboard (Settings → Pair).",
  pair_again:
    "Kinchart was updated and pairs browsers in a new, safer way. Pair this browser again with a new code from the dashboard (Settings → Pair).",
  too_large:
    "This page is too large to save. Try saving a smaller part of the record (for example one result at a time).",
  no_access:
    "This page cannot be read by the extension (browser pages and the web store are off limits). Open the portal page and try again.",
  no_tab: "There is no page to save. Open the portal page and try again.",
  bad_code:
    "That pairing code is not right. Check the code shown in the dashboard (Settings → Pair) and type it again.",
  code_expired:
    "That pairing code has expired. Make a new one in the dashboard (Settings → Pair).",
  locked_out:
    "Too many wrong codes. Make a new pairing code in the dashboard (Settings → Pair).",
  forbidden_origin:
    "Kinchart refused this browser. Pair again with a new code from the dashboard.",
  bad_signature:
    "Kinchart did not accept this browser's signature. Pair again with a new code from the dashboard.",
  pairing_store_damaged:
    "Kinchart's list of paired browsers is damaged. In the dashboard, open Settings → Pair, make a new code and pair this browser again.",
  bad_capture: "Kinchart could not read what the extension sent. Reload the page and save again.",
  session_full:
    "Kinchart is not running, and there is no room to keep this page waiting. Start Kinchart, then save again.",
  unexpected: "Something went wrong while saving. Nothing was saved. Try again.",
};

export class BridgeError extends Error {
  constructor(code, message, status = 0) {
    super(message || MESSAGES[code] || MESSAGES.unexpected);
    this.code = code;
    this.status = status;
  }
  // The bridge did not answer (or something else did): the caller may keep the capture waiting.
  get unreachable() {
    return this.code === "bridge_not_running" || this.code === "not_kinchart" || this.code === "not_verified";
  }
}

export async function getSettings() {
  const got = await chrome.storage.local.get(["port", "client_id", "key", "token"]);
  const port = Number.isInteger(got.port) && got.port > 0 && got.port < 65536 ? got.port : DEFAULT_PORT;
  const paired = typeof got.client_id === "string" && got.client_id && typeof got.key === "string" && got.key
    ? { clientId: got.client_id, key: got.key }
    : null;
  // A bearer token from before keys: never sent any more; the caregiver is asked to pair again.
  const legacy = !paired && typeof got.token === "string" && !!got.token;
  return { port, paired, legacy };
}

export async function setPort(port) {
  const n = Number(port);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error("The port must be a whole number from 1 to 65535.");
  await chrome.storage.local.set({ port: n });
}

export async function forgetPairing() {
  await chrome.storage.local.remove(["client_id", "key", "token"]);
}

// ---- crypto (WebCrypto) ------------------------------------------------------------------------

const enc = new TextEncoder();

function b64u(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function unb64u(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text)) throw new BridgeError("not_verified");
  const s = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function randomB64u(n) {
  return b64u(crypto.getRandomValues(new Uint8Array(n)));
}

async function sessionKeys(keyText) {
  const raw = unb64u(keyText);
  if (raw.length !== 32) throw new BridgeError("not_paired");
  const base = await crypto.subtle.importKey("raw", raw, "HKDF", false, ["deriveKey"]);
  const derive = (purpose, algorithm, usages) => crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: enc.encode("kinchart/" + purpose + "/v1") },
    base, algorithm, false, usages);
  return {
    mac: await derive("mac", { name: "HMAC", hash: "SHA-256", length: 256 }, ["sign", "verify"]),
    seal: await derive("seal", { name: "AES-GCM", length: 256 }, ["encrypt", "decrypt"]),
  };
}

async function macOf(keys, parts) {
  return b64u(await crypto.subtle.sign("HMAC", keys.mac, enc.encode(parts.join("\n"))));
}

async function macMatches(keys, given, parts) {
  let sig;
  try {
    sig = unb64u(given);
  } catch (_e) {
    return false;
  }
  return crypto.subtle.verify("HMAC", keys.mac, sig, enc.encode(parts.join("\n")));
}

async function sealBytes(keys, aadParts, plaintext) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: enc.encode(aadParts.join("\n")) }, keys.seal, plaintext);
  const out = new Uint8Array(12 + ct.byteLength);
  out.set(iv, 0);
  out.set(new Uint8Array(ct), 12);
  return out;
}

async function openBytes(keys, aadParts, sealed) {
  const bytes = new Uint8Array(sealed);
  if (bytes.length < 28) throw new BridgeError("not_verified");
  try {
    return await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: bytes.slice(0, 12), additionalData: enc.encode(aadParts.join("\n")) },
      keys.seal, bytes.slice(12));
  } catch (_e) {
    throw new BridgeError("not_verified");
  }
}

// ---- transport ---------------------------------------------------------------------------------

// One HTTP exchange with whatever listens on the port. Throws bridge_not_running when nothing
// answers, not_kinchart when the answer lacks the bridge's header.
async function exchange(port, method, path, headers, payload) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let resp;
  try {
    resp = await fetch("http://127.0.0.1:" + port + path, {
      method,
      headers: { "X-Kinchart-Client": CLIENT_HEADER, Accept: "application/json", ...headers },
      body: payload,
      cache: "no-store",
      credentials: "omit",
      redirect: "error",
      signal: controller.signal,
    });
  } catch (_e) {
    throw new BridgeError("bridge_not_running");
  } finally {
    clearTimeout(timer);
  }
  if (!resp.headers.get("X-Kinchart-Bridge")) throw new BridgeError("not_kinchart", undefined, resp.status);
  return resp;
}

async function jsonOf(resp) {
  try {
    return await resp.json();
  } catch (_e) {
    return null;
  }
}

// An answer nobody proved came from the paired bridge: only our own sentence for its code is shown
// (never its text, which anything on the port could have written), and it is never a success.
function unverifiedError(resp, data) {
  const code = (data && typeof data.error === "string" && data.error) || codeForStatus(resp.status);
  return new BridgeError(MESSAGES[code] ? code : "unexpected", undefined, resp.status);
}

function codeForStatus(status) {
  switch (status) {
    case 401: return "not_paired";
    case 403: return "forbidden_origin";
    case 413: return "too_large";
    case 423: return "locked";
    case 429: return "locked_out";
    default: return "unexpected";
  }
}

// An unauthenticated request (ping, pair). Returns {status, body}; throws BridgeError.
async function plainRequest(method, path, body) {
  const { port } = await getSettings();
  const headers = {};
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const resp = await exchange(port, method, path, headers, payload);
  const data = await jsonOf(resp);
  if (resp.ok) return { status: resp.status, body: data };
  throw unverifiedError(resp, data);
}

// The program on the port proves it holds our key: it must answer a fresh nonce of ours.
async function hello(port, paired, keys) {
  const clientNonce = randomB64u(32);
  const resp = await exchange(port, "POST", "/api/hello", { "Content-Type": "application/json" },
    JSON.stringify({ client_id: paired.clientId, client_nonce: clientNonce }));
  const data = await jsonOf(resp);
  if (!resp.ok) {
    const err = unverifiedError(resp, data);
    // The bridge does not know this browser: it was revoked, or the bridge's list was reset. A program
    // that is not Kinchart can say so too, so the key is kept until the caregiver pairs again.
    if (err.code === "forbidden_origin" || err.code === "pair_again") throw new BridgeError("not_paired", undefined, resp.status);
    if (err.code === "not_paired" || err.code === "pairing_store_damaged") throw err;
    throw new BridgeError("not_verified", undefined, resp.status);
  }
  if (!data || typeof data.server_nonce !== "string" || typeof data.proof !== "string" || typeof data.locked !== "boolean") {
    throw new BridgeError("not_verified");
  }
  const ok = await macMatches(keys, data.proof,
    ["kinchart/hello/v1", paired.clientId, clientNonce, data.server_nonce, data.locked ? "1" : "0"]);
  if (!ok) throw new BridgeError("not_verified");
  return {
    clientNonce,
    serverNonce: data.server_nonce,
    locked: data.locked,
    version: typeof data.version === "string" ? data.version : null,
  };
}

// A signed request to the paired bridge, after it proved itself. Returns {status, body}; throws
// BridgeError. Nothing of the request is sent before the proof checks out.
export async function request(method, path, body = undefined) {
  const { port, paired, legacy } = await getSettings();
  if (!paired) {
    // Tell "nothing is running" (the page can wait) from "not paired" (the caregiver must act).
    const { body: pong } = await plainRequest("GET", "/api/ping");
    if (!pong || pong.name !== "kinchart") throw new BridgeError("not_kinchart");
    throw new BridgeError(legacy ? "pair_again" : "not_paired");
  }
  const keys = await sessionKeys(paired.key);
  for (let attempt = 0; ; attempt++) {
    const proven = await hello(port, paired, keys);
    const sn = proven.serverNonce;
    let sealed = new Uint8Array(0);
    if (body !== undefined) {
      sealed = await sealBytes(keys, ["kinchart/request-body/v1", method, path, paired.clientId, sn],
        enc.encode(typeof body === "string" ? body : JSON.stringify(body)));
    }
    const digest = hex(await crypto.subtle.digest("SHA-256", sealed));
    const mac = await macOf(keys, ["kinchart/request/v1", method, path, paired.clientId, sn, digest]);
    const resp = await exchange(port, method, path, {
      "Content-Type": SEALED,
      "X-Kinchart-Client-Id": paired.clientId,
      "X-Kinchart-Nonce": sn,
      "X-Kinchart-Mac": mac,
    }, sealed);
    const type = (resp.headers.get("Content-Type") || "").split(";")[0].trim();
    if (type !== SEALED) {
      // Refused before the bridge checked the signature (or not the bridge at all).
      const data = await jsonOf(resp);
      if (resp.ok) throw new BridgeError("not_verified", undefined, resp.status);
      const err = unverifiedError(resp, data);
      if (err.code === "not_paired" && data && data.error === "stale_nonce" && attempt === 0) continue;
      throw err;
    }
    const plain = await openBytes(keys,
      ["kinchart/response/v1", paired.clientId, proven.clientNonce, sn, String(resp.status)],
      await resp.arrayBuffer());
    let data = null;
    try {
      data = JSON.parse(new TextDecoder().decode(plain));
    } catch (_e) {
      data = null;
    }
    if (resp.ok) return { status: resp.status, body: data };
    const code = (data && typeof data.error === "string" && data.error) || codeForStatus(resp.status);
    // Proven to come from the bridge: its own sentence is shown for codes we have none for.
    const message = MESSAGES[code] || (data && typeof data.message === "string" && data.message) || undefined;
    throw new BridgeError(code, message, resp.status);
  }
}

// Status for the popup: connected | bridge_not_running | not_kinchart | not_verified | locked |
// not_paired | pair_again.
export async function status() {
  const { port, paired, legacy } = await getSettings();
  try {
    if (!paired) {
      const { body } = await plainRequest("GET", "/api/ping");
      if (!body || body.name !== "kinchart") return { state: "not_kinchart", version: null };
      return { state: legacy ? "pair_again" : "not_paired", version: body.version || null };
    }
    const proven = await hello(port, paired, await sessionKeys(paired.key));
    return { state: proven.locked ? "locked" : "connected", version: proven.version };
  } catch (e) {
    const code = e instanceof BridgeError ? e.code : "unexpected";
    if (["not_kinchart", "not_verified", "not_paired"].includes(code)) return { state: code, version: null };
    if (code === "pairing_store_damaged") return { state: "not_paired", version: null };
    return { state: "bridge_not_running", version: null };
  }
}

export async function pair(code, clientName) {
  const { body } = await plainRequest("POST", "/api/pair", {
    code: String(code).trim(),
    client_name: clientName,
  });
  let key = null;
  try {
    key = body && typeof body.key === "string" && unb64u(body.key).length === 32 ? body.key : null;
  } catch (_e) {
    key = null;
  }
  if (!key || typeof body.client_id !== "string" || !body.client_id) throw new BridgeError("unexpected");
  await chrome.storage.local.remove("token");
  await chrome.storage.local.set({ client_id: body.client_id, key });
  return { client_id: body.client_id };
}

export async function postCapture(captureJson) {
  const { status: code, body } = await request("POST", "/api/captures", captureJson);
  return checkReceipt(body, code);
}

export async function listMembers() {
  const { body } = await request("POST", "/api/members");
  return Array.isArray(body && body.members) ? body.members : [];
}

export async function assign(captureId, choice) {
  const { status: code, body } = await request(
    "POST",
    "/api/captures/" + encodeURIComponent(captureId) + "/assign",
    choice,
  );
  return checkReceipt(body, code);
}

// A receipt we do not understand is not a success.
function checkReceipt(body, httpStatus) {
  if (!body || typeof body.capture_id !== "string" || !body.capture_id) {
    throw new BridgeError("unexpected", "Kinchart answered, but not with a receipt. The page may not have been saved; try again.", httpStatus);
  }
  return body;
}
