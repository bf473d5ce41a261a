"""The extension's manifest and files, checked without a browser; `web-ext lint` with zero errors."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
EXT = REPO / "extension"
BRIDGE_HOSTS = {"http://127.0.0.1/*", "http://localhost/*"}


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXT / "manifest.json").read_text(encoding="utf-8"))
    return data


def test_manifest_v3_with_both_backgrounds() -> None:
    m = manifest()
    assert m["manifest_version"] == 3
    bg = m["background"]
    assert bg["service_worker"] == "background.js"  # Chrome
    assert bg["scripts"] == ["background.js"]  # Firefox
    assert bg.get("type") == "module"
    assert (EXT / "background.js").is_file()


def test_permissions_are_the_minimal_set() -> None:
    m = manifest()
    # alarms: retrying captures that wait for the bridge (no install warning).
    assert sorted(m["permissions"]) == sorted(["activeTab", "scripting", "storage", "alarms"])
    assert set(m["host_permissions"]) == BRIDGE_HOSTS
    assert "content_scripts" not in m, "no blanket access: capture runs through activeTab only"
    assert "web_accessible_resources" not in m
    # Frames from another host (Oracle Health's record host) are asked for per host, at the caregiver's click.
    assert set(m.get("optional_host_permissions", [])) <= {"https://*/*", "http://*/*"}
    for key in ("optional_permissions",):
        assert key not in m


def test_gecko_id_and_firefox_settings() -> None:
    gecko = manifest()["browser_specific_settings"]["gecko"]
    assert re.fullmatch(r"[A-Za-z0-9._-]+@[A-Za-z0-9._-]+", gecko["id"])
    assert gecko["strict_min_version"]


def test_key_pins_the_extension_id() -> None:
    m = manifest()
    der = base64.b64decode(m["key"], validate=True)
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    assert isinstance(load_der_public_key(der), rsa.RSAPublicKey)
    digest = hashlib.sha256(der).hexdigest()[:32]
    computed = "".join(chr(ord("a") + int(c, 16)) for c in digest)
    assert (EXT / "EXTENSION_ID.txt").read_text(encoding="utf-8").strip() == computed


def test_no_private_key_anywhere_in_the_extension() -> None:
    for path in EXT.rglob("*"):
        if path.is_file() and path.suffix in {".pem", ".key", ".der", ".crx"}:
            pytest.fail(f"key material in the extension folder: {path}")
        if path.is_file() and path.suffix in {".js", ".json", ".html", ".txt", ".css"}:
            assert "PRIVATE KEY" not in path.read_text(encoding="utf-8"), path


def test_popup_command_options_and_icons_exist() -> None:
    m = manifest()
    assert m["action"]["default_popup"] == "popup.html"
    assert "save-to-family-record" in m["commands"]
    assert m["options_ui"]["page"] == "options.html"
    for rel in [m["action"]["default_popup"], m["options_ui"]["page"], *m["icons"].values()]:
        assert (EXT / rel).is_file(), rel
    popup = (EXT / "popup.html").read_text(encoding="utf-8")
    assert ">Save to family record</button>" in popup


def test_plain_es_modules_no_build_step() -> None:
    for name in ("background.js", "capture.js", "bridge.js", "popup.js", "options.js", "ui.js"):
        text = (EXT / name).read_text(encoding="utf-8")
        assert "require(" not in text, name
    for page in ("popup.html", "options.html"):
        html = (EXT / page).read_text(encoding="utf-8")
        assert re.search(r'<script type="module" src="[a-z]+\.js"></script>', html), page
        assert "<script>" not in html, f"{page}: inline script (CSP forbids it)"
        # Every input has a label.
        for input_id in re.findall(r'<input[^>]*\bid="([^"]+)"', html):
            assert f'for="{input_id}"' in html, f"{page}: #{input_id} has no <label for>"


def test_no_medical_content_goes_to_persistent_storage() -> None:
    """storage.local only ever gets the port and what pairing gave (client id, key); storage.sync is never
    used; no bearer token is ever sent (issue 13: the key authenticates and never leaves the browser)."""
    sets = 0
    for path in EXT.glob("*.js"):
        text = path.read_text(encoding="utf-8")
        assert "storage.sync" not in text, path.name
        assert "Authorization" not in text and "Bearer" not in text, path.name
        for m in re.finditer(r"storage\.local\.set\(\{([^}]*)\}", text):
            keys = set(re.findall(r"(?:^|,)\s*([A-Za-z_]+)", m.group(1).strip()))
            sets += 1
            assert keys <= {"port", "client_id", "key"}, f"{path.name}: storage.local.set({keys})"
    assert sets >= 2
    assert "chrome.storage.local" not in (EXT / "background.js").read_text(encoding="utf-8")


def test_serialize_document_is_self_contained() -> None:
    """The function injected as `func` must not close over module scope."""
    import sys

    sys.path.insert(0, str(REPO / "tests" / "browser"))
    from capture_helper import serialize_function_source

    src = serialize_function_source()
    assert src.startswith("function serializeDocument() {")
    for name in ("assembleCapture", "captureSize", "MAX_CAPTURE_BYTES", "import", "chrome."):
        assert name not in src, name


def _web_ext() -> list[str] | None:
    local = REPO / "node_modules" / ".bin" / "web-ext"
    if local.exists():
        return [str(local)]
    return None


def test_web_ext_lint_has_no_errors() -> None:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed, so web-ext cannot run (install Node.js and run `npm ci`)")
    cmd = _web_ext()
    if cmd is None:
        out = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=REPO, capture_output=True, text=True, timeout=600
        )
        assert out.returncode == 0, f"npm ci failed:\n{out.stdout}\n{out.stderr}"
        cmd = _web_ext()
        assert cmd is not None, "npm ci did not install web-ext"
    out = subprocess.run(
        [*cmd, "lint", "--source-dir", str(EXT), "--output", "json", "--no-input"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    text = out.stdout
    report = json.loads(text[text.index("{") :])
    errors = report.get("errors", [])
    assert report["summary"]["errors"] == 0, json.dumps(errors, indent=1)
    # The one expected warning: Firefox ignores background.service_worker (it uses background.scripts).
    codes = {w["code"] for w in report.get("warnings", [])}
    assert codes <= {"BACKGROUND_SERVICE_WORKER_IGNORED"}, json.dumps(report["warnings"], indent=1)


ASSEMBLE_SCRIPT = r"""
import { assembleCapture, captureSize, MAX_CAPTURE_BYTES } from "./extension/capture.js";
const doc = (url, html, child_frames = []) => ({ url, title: "T " + url, html, child_frames });
const results = [
  { frameId: 7, result: doc("https://a.example/panel", "<html>panel</html>") },
  { frameId: 0, result: doc("https://a.example/top", "<html>top</html>",
      ["https://a.example/panel", "https://record.b.example/r", "about:blank", ""]) },
  { frameId: 9, result: null },
  { frameId: 3, result: { url: "about:blank", html: "" } },
];
const out = assembleCapture(results, { url: "https://a.example/top", title: "tab" }, "0.1.0",
                            new Date("2026-11-25T10:00:00Z"));
const none = assembleCapture([{ frameId: 5, result: doc("https://x.example/", "<html></html>") }], null, "0.1.0");
console.log(JSON.stringify({ out, none, size: captureSize({ a: "é" }), max: MAX_CAPTURE_BYTES }));
"""


def test_assemble_capture_top_first_and_counts_skipped_frames() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (needed to run extension/capture.js outside a browser)")
    out = subprocess.run(
        [node, "--input-type=module", "-e", ASSEMBLE_SCRIPT],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    capture = data["out"]["capture"]
    assert capture == {
        "url": "https://a.example/top",
        "title": "T https://a.example/top",
        "captured_at": "2026-11-25T10:00:00.000Z",
        "frames": [
            {"url": "https://a.example/top", "html": "<html>top</html>"},
            {"url": "https://a.example/panel", "html": "<html>panel</html>"},
        ],
        "extension_version": "0.1.0",
    }
    assert data["out"]["skippedFrames"] == ["https://record.b.example/r"]
    assert data["none"] == {"capture": None, "skippedFrames": [], "error": "no_access"}
    assert data["size"] == len(json.dumps({"a": "é"}, ensure_ascii=False, separators=(",", ":")).encode())
    assert data["max"] < 32 * 1024 * 1024


@pytest.mark.browser
def test_firefox_installs_the_extension(tmp_path: Path) -> None:
    """`MOZ_HEADLESS=1 web-ext run` loads the same folder into Firefox (ESR) as a temporary add-on."""
    import os
    import signal
    import time

    firefox = shutil.which("firefox-esr") or shutil.which("firefox")
    if firefox is None:
        pytest.skip("Firefox is not installed (apt-get install firefox-esr); Chromium tests cover the rest")
    cmd = _web_ext()
    if cmd is None:
        pytest.skip("web-ext is not installed (npm ci)")
    log = tmp_path / "web-ext.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                *cmd,
                "run",
                "--source-dir",
                str(EXT),
                f"--firefox={firefox}",
                "--no-input",
                "--no-reload",
                "--verbose",
                "--profile-create-if-missing",
                f"--firefox-profile={tmp_path / 'profile'}",
            ],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MOZ_HEADLESS": "1"},
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        text = ""
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if "as a temporary add-on" in text or proc.poll() is not None:
                break
            time.sleep(0.5)
        assert "Installed" in text and "as a temporary add-on" in text, text[-3000:]
        assert '"id":"extension@kinchart.local"' in text
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
