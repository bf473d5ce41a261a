// The service worker (Chrome) / background script (Firefox): the only part that talks to the bridge.
//
// Medical content (captures, receipts, names) lives only in memory: chrome.storage.session, which
// the browser never writes to disk. storage.local holds the port and what pairing gave (client id and
// key), nothing else.

import { serializeDocument, assembleCapture, captureSize, MAX_CAPTURE_BYTES } from "./capture.js";
import * as bridge from "./bridge.js";

const RETRY_ALARM = "kinchart-retry";
const RETRY_MINUTES = 0.5;
const COLORS = { ok: "#1b5e20", fail: "#b3261e", waiting: "#7a4f00" };

// Keep session storage out of reach of anything but the extension's own pages.
try {
  chrome.storage.session.setAccessLevel?.({ accessLevel: "TRUSTED_CONTEXTS" });
} catch (_e) {
  /* older browsers: the default is already trusted contexts only */
}

// One thing at a time: saves and deliveries of waiting captures never interleave.
let chain = Promise.resolve();
function serial(fn) {
  const run = chain.then(fn, fn);
  chain = run.catch(() => undefined);
  return run;
}

// ---- session state (memory only) ----------------------------------------------------------

async function sessionGet(key, fallback) {
  const got = await chrome.storage.session.get(key);
  return got[key] === undefined ? fallback : got[key];
}

async function sessionSet(values) {
  await chrome.storage.session.set(values);
}

async function pendingList() {
  return sessionGet("pending", []);
}

async function remember(result) {
  await sessionSet({ last: { ...result, at: new Date().toISOString() } });
}

async function addUnassigned(receipt) {
  const list = await sessionGet("unassigned", []);
  if (!list.some((r) => r.capture_id === receipt.capture_id)) list.push(slimReceipt(receipt));
  await sessionSet({ unassigned: list });
}

async function removeUnassigned(captureId) {
  const list = await sessionGet("unassigned", []);
  await sessionSet({ unassigned: list.filter((r) => r.capture_id !== captureId) });
}

function slimReceipt(r) {
  return {
    capture_id: r.capture_id,
    summary: r.summary || "",
    patient: r.patient || null,
    organization: r.organization || null,
    vendor: r.vendor || null,
    page_kind: r.page_kind || null,
    counts: r.counts || {},
    member: r.member || null,
    needs_assignment: !!r.needs_assignment,
    duplicate: !!r.duplicate,
    warnings: Array.isArray(r.warnings) ? r.warnings.slice(0, 5) : [],
    error: typeof r.error === "string" ? r.error : null,
    candidates: Array.isArray(r.candidates) ? r.candidates.filter((c) => c && typeof c.id === "string") : [],
  };
}

// ---- badge -----------------------------------------------------------------------------------

async function badge(text, color, title, tabId) {
  const where = typeof tabId === "number" && tabId >= 0 ? { tabId } : {};
  try {
    await chrome.action.setBadgeText({ ...where, text });
    if (text) {
      await chrome.action.setBadgeBackgroundColor({ ...where, color });
      await chrome.action.setBadgeTextColor?.({ ...where, color: "#ffffff" });
    }
    await chrome.action.setTitle({ ...where, title: title || "Save to family record" });
  } catch (_e) {
    /* the tab may be gone */
  }
}

async function showWaiting() {
  const n = (await pendingList()).length;
  if (n > 0) {
    await badge(String(n), COLORS.waiting,
      n === 1 ? "1 page is waiting for Kinchart to start" : n + " pages are waiting for Kinchart to start");
  } else {
    await badge("", COLORS.waiting, "Save to family record");
  }
}

function receiptBadgeText(receipt) {
  const total = Object.values(receipt.counts || {}).reduce((a, b) => a + (Number(b) || 0), 0);
  if (receipt.needs_assignment) return "?";
  if (total > 0 && total < 1000) return String(total);
  return "✓";
}

function isDocumentOnly(receipt) {
  return !receipt.vendor || receipt.vendor === "generic" || receipt.page_kind === "document";
}

const NOT_PORTAL_NOTE =
  "This did not look like a patient-portal page, so it was saved as a document.";

function describeReceipt(receipt) {
  const summary = receipt.summary || "Saved.";
  const notes = [];
  if (receipt.duplicate && !/^already/i.test(summary)) {
    notes.push("This page was already in the record; nothing new was added.");
  }
  if (isDocumentOnly(receipt)) notes.push(NOT_PORTAL_NOTE);
  if (typeof receipt.error === "string" && receipt.error) notes.push(receipt.error);
  if (receipt.needs_assignment) notes.push("Kinchart does not know whose page this is yet. Choose who it is below.");
  return { summary, notes };
}

// ---- capture ---------------------------------------------------------------------------------

async function captureTab(tabId) {
  let tab = null;
  try {
    tab = await chrome.tabs.get(tabId);
  } catch (_e) {
    throw new bridge.BridgeError("no_tab");
  }
  let results;
  try {
    results = await chrome.scripting.executeScript({
      target: { tabId, allFrames: true },
      func: serializeDocument,
      injectImmediately: false,
    });
  } catch (_e) {
    throw new bridge.BridgeError("no_access");
  }
  const { capture, skippedFrames, error } = assembleCapture(
    results, tab, chrome.runtime.getManifest().version);
  if (error || !capture) throw new bridge.BridgeError(error || "no_access");
  return { capture, skippedFrames };
}

// Match patterns for the hosts of frames that could not be read, for chrome.permissions.request.
function frameOrigins(skippedFrames) {
  const out = new Set();
  for (const u of skippedFrames) {
    try {
      const url = new URL(u);
      if (url.protocol === "http:" || url.protocol === "https:") out.add(url.protocol + "//" + url.hostname + "/*");
    } catch (_e) {
      /* not a URL: nothing to ask for */
    }
  }
  return [...out];
}

function skippedNote(skippedFrames) {
  if (!skippedFrames.length) return null;
  const hosts = [...new Set(skippedFrames.map((u) => {
    try { return new URL(u).host; } catch (_e) { return u; }
  }))];
  return (skippedFrames.length === 1 ? "1 frame" : skippedFrames.length + " frames") +
    " from " + hosts.join(", ") + " could not be read and " +
    (skippedFrames.length === 1 ? "was" : "were") + " left out.";
}

async function deliverPendingLocked() {
  // Send waiting captures, oldest first. Stops at the first one the bridge cannot take yet.
  let pending = await pendingList();
  const delivered = [];
  let stopped = null;
  while (pending.length) {
    const item = pending[0];
    try {
      const receipt = await bridge.postCapture(item.capture);
      delivered.push(receipt);
      if (receipt.needs_assignment) await addUnassigned(receipt);
      const { summary } = describeReceipt(receipt);
      await badge(receiptBadgeText(receipt), COLORS.ok, summary, item.tabId);
    } catch (e) {
      const err = e instanceof bridge.BridgeError ? e : new bridge.BridgeError("unexpected");
      // Still unreachable, locked, or unpaired: the caregiver can fix these, so keep waiting.
      if (err.unreachable || ["locked", "not_paired", "pair_again"].includes(err.code)) {
        stopped = err;
        break;
      }
      // The bridge refused this capture for good: say so instead of retrying forever.
      await remember({ ok: false, code: err.code, message: "A page that was waiting could not be saved: " + err.message });
    }
    pending = pending.slice(1);
    await sessionSet({ pending });
  }
  if (delivered.length) {
    const last = delivered[delivered.length - 1];
    const { summary, notes } = describeReceipt(last);
    await remember({
      ok: true,
      receipt: slimReceipt(last),
      summary,
      notes: [
        delivered.length === 1
          ? "A page that was waiting has now been saved."
          : delivered.length + " pages that were waiting have now been saved.",
        ...notes,
      ],
    });
  }
  if (!pending.length) await chrome.alarms.clear(RETRY_ALARM);
  else await chrome.alarms.create(RETRY_ALARM, { periodInMinutes: RETRY_MINUTES, delayInMinutes: RETRY_MINUTES });
  await showWaiting();
  return { delivered: delivered.length, waiting: pending.length, stopped };
}

async function keepWaiting(capture, tabId) {
  const pending = await pendingList();
  pending.push({ capture, tabId, queued_at: new Date().toISOString() });
  try {
    await sessionSet({ pending });
  } catch (_e) {
    return false; // over the session quota: do not pretend it is kept
  }
  await chrome.alarms.create(RETRY_ALARM, { periodInMinutes: RETRY_MINUTES, delayInMinutes: RETRY_MINUTES });
  await showWaiting();
  return true;
}

async function saveTabLocked(tabId) {
  let captured;
  try {
    captured = await captureTab(tabId);
  } catch (e) {
    return fail(e, tabId);
  }
  const { capture, skippedFrames } = captured;
  if (captureSize(capture) > MAX_CAPTURE_BYTES) return fail(new bridge.BridgeError("too_large"), tabId);
  const frameNote = skippedNote(skippedFrames);

  // Older waiting pages go first, so the record keeps the order they were seen in.
  const before = await deliverPendingLocked();
  if (before.stopped && before.stopped.unreachable) {
    return queueOrFail(before.stopped, capture, tabId, frameNote);
  }

  let receipt;
  try {
    receipt = await bridge.postCapture(capture);
  } catch (e) {
    const err = e instanceof bridge.BridgeError ? e : new bridge.BridgeError("unexpected");
    if (err.unreachable) return queueOrFail(err, capture, tabId, frameNote);
    return fail(err, tabId);
  }
  const { summary, notes } = describeReceipt(receipt);
  if (frameNote) notes.push(frameNote);
  if (receipt.needs_assignment) await addUnassigned(receipt);
  const result = { ok: true, receipt: slimReceipt(receipt), summary, notes, frame_origins: frameOrigins(skippedFrames), tabId };
  await remember(result);
  await badge(receiptBadgeText(receipt), COLORS.ok, summary, tabId);
  return result;
}

async function queueOrFail(err, capture, tabId, frameNote) {
  const kept = await keepWaiting(capture, tabId);
  if (!kept) return fail(new bridge.BridgeError("session_full"), tabId);
  const n = (await pendingList()).length;
  await badge(String(n), COLORS.waiting,
    n === 1 ? "1 page is waiting for Kinchart to start" : n + " pages are waiting for Kinchart to start", tabId);
  const result = {
    ok: false,
    queued: true,
    code: err.code,
    message: err.code === "bridge_not_running"
      ? "Kinchart is not running on this computer. Start Kinchart and this page will be sent."
      : err.message,
    notes: [
      "Nothing is saved yet. The page is kept in this browser's memory (not on disk) and will be sent when Kinchart answers." +
        (n > 1 ? " " + n + " pages are waiting." : ""),
      "If you close the browser before then, save the page again.",
      ...(frameNote ? [frameNote] : []),
    ],
  };
  await remember(result);
  return result;
}

async function fail(e, tabId) {
  const err = e instanceof bridge.BridgeError ? e : new bridge.BridgeError("unexpected");
  const result = { ok: false, queued: false, code: err.code, message: err.message, notes: [] };
  await remember(result);
  await badge("!", COLORS.fail, "Not saved: " + err.message, tabId);
  return result;
}

function saveTab(tabId) {
  return serial(() => saveTabLocked(tabId));
}

function deliverPending() {
  return serial(() => deliverPendingLocked());
}

// ---- what the popup and options page ask for -----------------------------------------------

async function getStatus() {
  const st = await bridge.status();
  let delivery = null;
  if (st.state === "connected" && (await pendingList()).length) {
    delivery = await deliverPending();
  }
  const settings = await bridge.getSettings();
  return {
    state: st.state,
    version: st.version || null,
    port: settings.port,
    waiting: (await pendingList()).length,
    delivered: delivery ? delivery.delivered : 0,
    last: await sessionGet("last", null),
    unassigned: await sessionGet("unassigned", []),
  };
}

function clientName() {
  const ua = (self.navigator && self.navigator.userAgent) || "";
  const browserName = /Firefox\//.test(ua) ? "Firefox" : /Edg\//.test(ua) ? "Edge" : "Chrome";
  return browserName + " extension";
}

async function handle(msg) {
  switch (msg && msg.type) {
    case "status":
      return getStatus();
    case "save":
      return saveTab(msg.tabId);
    case "pair":
      try {
        await bridge.pair(msg.code, msg.clientName || clientName());
        return { ok: true, status: await getStatus() };
      } catch (e) {
        const err = e instanceof bridge.BridgeError ? e : new bridge.BridgeError("unexpected");
        return { ok: false, code: err.code, message: err.message };
      }
    case "unpair":
      await bridge.forgetPairing();
      return { ok: true };
    case "set-port":
      try {
        await bridge.setPort(msg.port);
        return { ok: true, status: await getStatus() };
      } catch (e) {
        return { ok: false, code: "bad_port", message: e.message };
      }
    case "members":
      try {
        return { ok: true, members: await bridge.listMembers() };
      } catch (e) {
        const err = e instanceof bridge.BridgeError ? e : new bridge.BridgeError("unexpected");
        return { ok: false, code: err.code, message: err.message };
      }
    case "assign":
      try {
        const receipt = await bridge.assign(msg.captureId, msg.choice);
        await removeUnassigned(msg.captureId);
        const { summary, notes } = describeReceipt({ ...receipt, needs_assignment: false });
        const result = { ok: true, receipt: slimReceipt(receipt), summary, notes };
        await remember(result);
        return result;
      } catch (e) {
        const err = e instanceof bridge.BridgeError ? e : new bridge.BridgeError("unexpected");
        return { ok: false, code: err.code, message: err.message };
      }
    case "dismiss-unassigned":
      await removeUnassigned(msg.captureId);
      return { ok: true };
    default:
      return { ok: false, code: "unknown_request", message: "Unknown request." };
  }
}

chrome.runtime.onMessage.addListener((msg, sender, sendResponse) => {
  // Only the extension's own pages may ask (no content scripts exist, but be explicit).
  if (sender.id !== chrome.runtime.id || (sender.url && !sender.url.startsWith(chrome.runtime.getURL("")))) {
    return false;
  }
  handle(msg).then(sendResponse, (e) =>
    sendResponse({ ok: false, code: "unexpected", message: bridge.MESSAGES.unexpected, detail: String(e) }));
  return true;
});

// The keyboard shortcut: the same save as the popup's button; the badge carries the receipt.
async function onCommand(command, tab) {
  if (command !== "save-to-family-record") return null;
  let tabId = tab && typeof tab.id === "number" ? tab.id : null;
  if (tabId === null) {
    const [active] = await chrome.tabs.query({ active: true, currentWindow: true });
    tabId = active ? active.id : null;
  }
  if (tabId === null) return null;
  return saveTab(tabId);
}

chrome.commands?.onCommand.addListener((command, tab) => { onCommand(command, tab); });

chrome.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name === RETRY_ALARM) deliverPending();
});

chrome.runtime.onStartup?.addListener(() => { showWaiting(); });
chrome.runtime.onInstalled?.addListener(() => { showWaiting(); });

// For tests and debugging from the worker's console.
self.kinchart = { saveTab, deliverPending, getStatus, handle, onCommand };
