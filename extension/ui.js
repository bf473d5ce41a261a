// Small helpers shared by the popup and the options page.

export const STATUS_TEXT = {
  checking: "Checking Kinchart…",
  connected: "Connected to Kinchart",
  bridge_not_running: "Kinchart is not running — start Kinchart on this computer",
  not_kinchart: "Something else is answering on Kinchart's port — check the port in Settings",
  locked: "Kinchart is locked — unlock it in the dashboard",
  not_paired: "Not paired — enter the code from the dashboard",
  pair_again: "Kinchart was updated — pair this browser again with a new code from the dashboard",
  not_verified: "The program on Kinchart's port is not your paired Kinchart — nothing was sent to it",
};

export function send(message) {
  return new Promise((resolve) => {
    try {
      chrome.runtime.sendMessage(message, (reply) => {
        if (chrome.runtime.lastError || reply === undefined) {
          resolve({ ok: false, code: "unexpected", message: "The extension did not answer. Close this and try again." });
        } else {
          resolve(reply);
        }
      });
    } catch (_e) {
      resolve({ ok: false, code: "unexpected", message: "The extension did not answer. Close this and try again." });
    }
  });
}

export function showStatus(el, textEl, state) {
  el.dataset.state = state;
  textEl.textContent = STATUS_TEXT[state] || STATUS_TEXT.checking;
}

export function setError(el, message) {
  el.textContent = message || "";
  el.hidden = !message;
}
