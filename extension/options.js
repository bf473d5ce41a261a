import { send, showStatus, setError } from "./ui.js";

const $ = (id) => document.getElementById(id);

function render(st) {
  showStatus($("status"), $("status-text"), st.state);
  $("port").value = String(st.port);
  const paired = st.state === "connected" || st.state === "locked";
  $("paired-text").textContent = paired
    ? "This browser is paired with Kinchart."
    : "This browser is not paired with Kinchart yet.";
  $("unpair").hidden = !paired;
}

async function refresh() {
  const st = await send({ type: "status" });
  if (st && st.state) render(st);
}

document.addEventListener("DOMContentLoaded", async () => {
  $("pair-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    setError($("pair-error"), "");
    $("pair-ok").hidden = true;
    const code = $("pair-code").value.trim();
    if (!code) {
      setError($("pair-error"), "Type the pairing code shown in the dashboard.");
      return;
    }
    const reply = await send({ type: "pair", code });
    if (!reply.ok) {
      setError($("pair-error"), reply.message);
      return;
    }
    $("pair-code").value = "";
    $("pair-ok").textContent = "Paired.";
    $("pair-ok").hidden = false;
    render(reply.status);
  });
  $("unpair").addEventListener("click", async () => {
    await send({ type: "unpair" });
    await refresh();
  });
  $("port-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    setError($("port-error"), "");
    $("port-ok").hidden = true;
    const reply = await send({ type: "set-port", port: Number($("port").value) });
    if (!reply.ok) {
      setError($("port-error"), reply.message);
      return;
    }
    $("port-ok").textContent = "Saved.";
    $("port-ok").hidden = false;
    render(reply.status);
  });
  await refresh();
  document.body.dataset.ready = "1";
});
