// The capture code: the one place that decides what "the page as the caregiver sees it" is.
//
// serializeDocument() is injected into every frame of the tab with
// chrome.scripting.executeScript({func: serializeDocument, allFrames: true}) and is also run by the
// tests through Playwright's page.evaluate (tests/browser/capture_helper.py reads this file). So it
// must stay self-contained: no imports, no references to anything else in this module, only the
// globals of the page it runs in. Its result must be structured-clonable (plain strings and arrays).
//
// The rest of this module (assembleCapture, the limits) runs in the service worker only.

export function serializeDocument() {
  const doc = document;
  const root = doc.documentElement;
  let html = "";
  if (root) {
    let doctype = "<!DOCTYPE html>";
    if (doc.doctype && doc.doctype.name) {
      const dt = doc.doctype;
      doctype = "<!DOCTYPE " + dt.name +
        (dt.publicId ? ' PUBLIC "' + dt.publicId + '"' : "") +
        (!dt.publicId && dt.systemId ? " SYSTEM" : "") +
        (dt.systemId ? ' "' + dt.systemId + '"' : "") + ">";
    }
    html = doctype + "\n" + root.outerHTML;
  }
  // The frames this document shows, so the extension can tell which ones it could not read.
  const childFrames = [];
  for (const el of doc.querySelectorAll("iframe, frame")) {
    let src = "";
    try {
      src = el.src || "";
    } catch (_e) {
      src = "";
    }
    childFrames.push(src);
  }
  return {
    url: String(doc.URL || location.href),
    title: String(doc.title || ""),
    html: html,
    child_frames: childFrames,
  };
}

// The bridge refuses bodies over 32 MiB (api.md); stay under it with room for the JSON envelope.
export const MAX_CAPTURE_BYTES = 32 * 1024 * 1024 - 64 * 1024;

// Turn chrome.scripting.executeScript's per-frame results into the capture the bridge takes:
// {url, title, captured_at, frames: [{url, html}], extension_version}, top document first.
// Frames the extension could not reach (another host without permission, errors, about:blank
// placeholders) are skipped and counted.
export function assembleCapture(injectionResults, tab, extensionVersion, now = new Date()) {
  const reached = [];
  for (const r of injectionResults || []) {
    const v = r && r.result;
    if (!v || typeof v.html !== "string" || v.html === "") continue;
    reached.push({ frameId: typeof r.frameId === "number" ? r.frameId : -1, value: v });
  }
  // Top frame (frameId 0) first, the rest in the order Chrome gave them.
  reached.sort((a, b) => (a.frameId === 0 ? -1 : b.frameId === 0 ? 1 : 0));
  const top = reached.find((r) => r.frameId === 0) || null;
  if (!top) {
    return { capture: null, skippedFrames: [], error: "no_access" };
  }
  const frames = [];
  const seen = new Set();
  const expected = [];
  for (const r of reached) {
    frames.push({ url: r.value.url, html: r.value.html });
    seen.add(r.value.url);
    for (const src of r.value.child_frames || []) expected.push(src);
  }
  const skippedFrames = expected.filter(
    (src) => src && /^https?:/i.test(src) && !seen.has(src),
  );
  const capture = {
    url: top.value.url || (tab && tab.url) || "",
    title: top.value.title || (tab && tab.title) || "",
    captured_at: now.toISOString(),
    frames,
    extension_version: extensionVersion,
  };
  return { capture, skippedFrames, error: null };
}

// Size of the JSON body in bytes (UTF-8), to refuse a too-large page before sending it.
export function captureSize(capture) {
  return new TextEncoder().encode(JSON.stringify(capture)).length;
}
