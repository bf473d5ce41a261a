// Talking to the Kinchart bridge on this computer (docs/api.md). Used by the service worker only.
//
// storage.local holds exactly two things: the bridge's port and the pairing token. The token is
// sent only in the Authorization header. A reply is trusted only if it carries X-Kinchart-Bridge.

export const DEFAULT_PORT = 47213;
export const CLIENT_VERSION = "0.1.0";
const CLIENT_HEADER = "extension/" + CLIENT_VERSION;
const TIMEOUT_MS = 20000;

// What the caregiver reads for each failure: what failed and what to do.
export const MESSAGES = {
  bridge_not_running:
    "Kinchart is not running on this computer. Start Kinchart, then try again.",
  not_kinchart:
    "Something other than Kinchart is answering on the bridge's port. Check the port in the extension's options, or start Kinchart.",
  locked:
    "Kinchart is locked. Unlock it in the Kinchart dashboard, then try again.",
  not_paired:
    "This browser is not paired with Kinchart. Enter the pairing code from the dashboard (Settings → Pair).",
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
    return this.code === "bridge_not_running" || this.code === "not_kinchart";
  }
}

export async function getSettings() {
  const got = await chrome.storage.local.get(["port", "token"]);
  const port = Number.isInteger(got.port) && got.port > 0 && got.port < 65536 ? got.port : DEFAULT_PORT;
  return { port, token: typeof got.token === "string" && got.token ? got.token : null };
}

export async function setPort(port) {
  const n = Number(port);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error("The port must be a whole number from 1 to 65535.");
  await chrome.storage.local.set({ port: n });
}

export async function setToken(token) {
  if (token) await chrome.storage.local.set({ token });
  else await chrome.storage.local.remove("token");
}

// Before the token or a page leaves the browser, make sure Kinchart (not some other program that
// took the port) is what answers there. Remembered for a few seconds per port.
const VERIFY_MS = 5000;
let verified = { port: 0, until: 0 };

async function verifyBridge(port) {
  if (verified.port === port && verified.until > Date.now()) return;
  const { body } = await request("GET", "/api/ping", { auth: false, verify: false });
  if (!body || body.name !== "kinchart") throw new BridgeError("not_kinchart");
  verified = { port, until: Date.now() + VERIFY_MS };
}

// One request to the bridge. Returns {status, body}; throws BridgeError for every failure.
export async function request(method, path, { body = undefined, auth = true, verify = true } = {}) {
  const { port, token } = await getSettings();
  const sendsSomething = (auth && token) || body !== undefined;
  if (verify && sendsSomething) await verifyBridge(port);
  const headers = { "X-Kinchart-Client": CLIENT_HEADER, Accept: "application/json" };
  if (auth && token) headers.Authorization = "Bearer " + token;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let resp;
  try {
    resp = await fetch("http://127.0.0.1:" + port + path, {
      method,
      headers,
      body: payload,
      cache: "no-store",
      credentials: "omit",
      redirect: "error",
      signal: controller.signal,
    });
  } catch (_e) {
    verified = { port: 0, until: 0 };
    throw new BridgeError("bridge_not_running");
  } finally {
    clearTimeout(timer);
  }
  if (!resp.headers.get("X-Kinchart-Bridge")) {
    verified = { port: 0, until: 0 };
    throw new BridgeError("not_kinchart", undefined, resp.status);
  }
  let data = null;
  try {
    data = await resp.json();
  } catch (_e) {
    data = null;
  }
  if (resp.ok && path === "/api/ping" && data && data.name === "kinchart") {
    verified = { port, until: Date.now() + VERIFY_MS };
  }
  if (resp.ok) return { status: resp.status, body: data };
  const code = (data && typeof data.error === "string" && data.error) || codeForStatus(resp.status);
  // Our own sentence first (it says what to do); the bridge's message only for codes we do not know.
  const message = MESSAGES[code] || (data && typeof data.message === "string" && data.message) || undefined;
  if (code === "not_paired") await setToken(null);
  throw new BridgeError(code, message, resp.status);
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

// Status for the popup: connected | bridge_not_running | not_kinchart | locked | not_paired.
export async function status() {
  const { token } = await getSettings();
  try {
    let { body } = await request("GET", "/api/ping", { auth: false });
    if (!body || body.name !== "kinchart") return { state: "not_kinchart", version: null };
    if (token) ({ body } = await request("GET", "/api/ping"));
    if (!token || body.paired === false) {
      if (token && body.paired === false) await setToken(null);
      return { state: "not_paired", version: body.version || null };
    }
    if (body.locked) return { state: "locked", version: body.version || null };
    return { state: "connected", version: body.version || null };
  } catch (e) {
    if (e instanceof BridgeError) return { state: e.code === "not_kinchart" ? "not_kinchart" : "bridge_not_running" };
    return { state: "bridge_not_running" };
  }
}

export async function pair(code, clientName) {
  const { body } = await request("POST", "/api/pair", {
    body: { code: String(code).trim(), client_name: clientName },
    auth: false,
  });
  if (!body || typeof body.token !== "string" || !body.token) throw new BridgeError("unexpected");
  await setToken(body.token);
  return { client_id: body.client_id || null };
}

export async function postCapture(captureJson) {
  const { status: code, body } = await request("POST", "/api/captures", { body: captureJson });
  return checkReceipt(body, code);
}

export async function listMembers() {
  const { body } = await request("GET", "/api/members");
  return Array.isArray(body && body.members) ? body.members : [];
}

export async function assign(captureId, choice) {
  const { status: code, body } = await request(
    "POST",
    "/api/captures/" + encodeURIComponent(captureId) + "/assign",
    { body: choice },
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
