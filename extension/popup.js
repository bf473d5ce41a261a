import { send, showStatus, setError } from "./ui.js";

const $ = (id) => document.getElementById(id);
let tabId = null;
let currentUnassigned = null;
let pendingFrameOrigins = [];

async function findTab() {
  // Opened as a tab (tests, or a pinned window), the page to save is named in the query string.
  const fromQuery = new URLSearchParams(location.search).get("tab");
  if (fromQuery !== null && /^\d+$/.test(fromQuery)) return Number(fromQuery);
  try {
    const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
    return tab && typeof tab.id === "number" ? tab.id : null;
  } catch (_e) {
    return null;
  }
}

function showResult(result) {
  const box = $("result");
  const notes = $("result-notes");
  notes.textContent = "";
  if (!result) {
    box.hidden = true;
    return;
  }
  let kind;
  let title;
  if (result.ok) {
    kind = "ok";
    title = result.summary || "Saved.";
  } else if (result.queued) {
    kind = "waiting";
    title = "Not saved yet: " + result.message;
  } else {
    kind = "fail";
    title = "Not saved: " + result.message;
  }
  box.dataset.kind = kind;
  box.setAttribute("role", kind === "fail" ? "alert" : "status");
  $("result-title").textContent = title;
  for (const n of result.notes || []) {
    const li = document.createElement("li");
    li.textContent = n;
    notes.appendChild(li);
  }
  const origins = result.ok && Array.isArray(result.frame_origins) ? result.frame_origins : [];
  pendingFrameOrigins = origins;
  if (origins.length) {
    const hosts = origins.map((o) => o.replace(/^https?:\/\//, "").replace(/\/\*$/, ""));
    $("frames-text").textContent =
      "Part of this page comes from " + hosts.join(", ") +
      ". Allow Kinchart to read it there (only when you save), then save again to include it.";
  }
  $("frames").hidden = !origins.length;
  box.hidden = false;
}

async function onAllowFrames() {
  if (!pendingFrameOrigins.length) return;
  let granted = false;
  try {
    // Must run in the click's user gesture: ask before any other await.
    granted = await chrome.permissions.request({ origins: pendingFrameOrigins });
  } catch (_e) {
    granted = false;
  }
  if (!granted) {
    $("frames-text").textContent = "Not allowed, so that part of the page is still left out. The rest was saved.";
    return;
  }
  await onSave();
}

function showWaiting(n) {
  const el = $("waiting");
  if (n > 0) {
    el.textContent = n === 1
      ? "1 page is waiting to be sent to Kinchart."
      : n + " pages are waiting to be sent to Kinchart.";
    el.hidden = false;
  } else {
    el.hidden = true;
  }
}

async function showAssign(unassigned) {
  const section = $("assign");
  if (!unassigned || !unassigned.length) {
    section.hidden = true;
    currentUnassigned = null;
    return;
  }
  const item = unassigned[unassigned.length - 1];
  if (currentUnassigned && currentUnassigned.capture_id === item.capture_id && !section.hidden) return;
  currentUnassigned = item;
  const where = item.organization ? " at " + item.organization : "";
  $("assign-patient").textContent = item.patient && item.patient.name
    ? "This page is about " + item.patient.name + where +
      ", whom Kinchart does not know yet. Choose the family member, or add them."
    : "Kinchart could not tell whose page this is. Choose the family member it belongs to, or add them.";
  $("new-name").value = item.patient && item.patient.name ? item.patient.name : "";
  $("new-dob").value = item.patient && /^\d{4}-\d{2}-\d{2}$/.test(item.patient.dob || "") ? item.patient.dob : "";
  const list = $("assign-members");
  list.textContent = "";
  setError($("assign-error"), "");
  const reply = await send({ type: "members" });
  if (!reply.ok) {
    setError($("assign-error"), reply.message);
  } else {
    reply.members.forEach((m, i) => {
      const row = document.createElement("div");
      row.className = "choice";
      const input = document.createElement("input");
      input.type = "radio";
      input.name = "member";
      input.value = m.id;
      input.id = "member-" + i;
      const label = document.createElement("label");
      label.htmlFor = input.id;
      label.textContent = m.name + (m.relationship ? " (" + m.relationship + ")" : "");
      row.append(input, label);
      list.appendChild(row);
    });
  }
  const suggested = (item.candidates || []).map((c) => c.id);
  const match = [...list.querySelectorAll('input[name="member"]')].find((i) => suggested.includes(i.value));
  if (match) match.checked = true;
  else if (!reply.ok || !reply.members.length) $("member-new").checked = true;
  $("new-member").hidden = !$("member-new").checked;
  section.hidden = false;
}

function render(st) {
  showStatus($("status"), $("status-text"), st.state);
  showWaiting(st.waiting || 0);
  $("pairing").hidden = st.state !== "not_paired" && st.state !== "pair_again";
  if (st.last) showResult(st.last);
  showAssign(st.state === "connected" ? st.unassigned : []);
}

async function refresh() {
  const st = await send({ type: "status" });
  if (st && st.state) render(st);
  return st;
}

async function onSave() {
  const button = $("save");
  if (tabId === null) {
    showResult({ ok: false, message: "There is no page to save. Open the portal page and try again.", notes: [] });
    return;
  }
  button.disabled = true;
  button.textContent = "Saving…";
  try {
    const result = await send({ type: "save", tabId });
    showResult(result);
    await refresh();
  } finally {
    button.disabled = false;
    button.textContent = "Save to family record";
    $("result").focus();
  }
}

async function onPair(event) {
  event.preventDefault();
  const code = $("pair-code").value.trim();
  setError($("pair-error"), "");
  if (!code) {
    setError($("pair-error"), "Type the pairing code shown in the dashboard.");
    $("pair-code").focus();
    return;
  }
  $("pair-submit").disabled = true;
  try {
    const reply = await send({ type: "pair", code });
    if (!reply.ok) {
      setError($("pair-error"), reply.message);
      $("pair-code").select();
      return;
    }
    $("pair-code").value = "";
    render(reply.status);
    $("save").focus();
  } finally {
    $("pair-submit").disabled = false;
  }
}

async function onAssign(event) {
  event.preventDefault();
  if (!currentUnassigned) return;
  const picked = document.querySelector('input[name="member"]:checked');
  setError($("assign-error"), "");
  if (!picked) {
    setError($("assign-error"), "Choose a family member, or “Someone new”.");
    return;
  }
  let choice;
  if (picked.value === "__new__") {
    const name = $("new-name").value.trim();
    if (!name) {
      setError($("assign-error"), "Type the new family member's name.");
      $("new-name").focus();
      return;
    }
    choice = { new_member: { name, dob: $("new-dob").value || null, relationship: $("new-relationship").value.trim() || null } };
  } else {
    choice = { member_id: picked.value };
  }
  $("assign-submit").disabled = true;
  try {
    const reply = await send({ type: "assign", captureId: currentUnassigned.capture_id, choice });
    if (!reply.ok) {
      setError($("assign-error"), reply.message);
      return;
    }
    currentUnassigned = null;
    $("assign").hidden = true;
    showResult(reply);
    await refresh();
  } finally {
    $("assign-submit").disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  $("save").addEventListener("click", onSave);
  $("frames-allow").addEventListener("click", onAllowFrames);
  $("pair-form").addEventListener("submit", onPair);
  $("assign-form").addEventListener("submit", onAssign);
  $("assign-form").addEventListener("change", () => {
    $("new-member").hidden = !$("member-new").checked;
  });
  $("open-options").addEventListener("click", (e) => {
    e.preventDefault();
    chrome.runtime.openOptionsPage();
  });
  tabId = await findTab();
  if (tabId === null) $("save").disabled = true;
  await refresh();
  document.body.dataset.ready = "1";
});
