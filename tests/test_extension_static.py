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
    """storage.local only ever gets port and token; storage.sync is never used."""
    for path in EXT.glob("*.js"):
        text = path.read_text(encoding="utf-8")
        assert "storage.sync" not in text, path.name
        for m in re.finditer(r"storage\.local\.set\(\{\s*([a-z_]+)", text):
            assert m.group(1) in {"port", "token"}, f"{path.name}: storage.local.set({m.group(1)})"
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
