"""A share bundle comes from outside like the extension's saves do: its captures pass the one capture
validation (bridge.capture.validate_capture) before anything is stored."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from bridge_helpers import capture

from bridge.family import Family
from bridge.share_format import FORMAT, VERSION, seal
from bridge.share_import import import_bundle
from bridge.vault import KdfParams, Vault

SHARE = "share bundle passphrase"


def _bundle(captures: dict[str, dict[str, Any]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("records.json", "{}")
        for cid, cap in captures.items():
            z.writestr(f"captures/{cid}.json", json.dumps(cap))
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "members": [{"id": "m1", "name": "Synthetic Person", "dob": "1950-01-01"}],
            "captures": [{"id": cid, "member_id": "m1"} for cid in captures],
        }
        z.writestr("manifest.json", json.dumps(manifest))
    return seal(buf.getvalue(), SHARE, KdfParams.fast())


def test_a_bundled_capture_the_api_would_refuse_is_reported_not_stored(tmp_path: Path) -> None:
    good = capture("<main><h1>Letter</h1><p>Synthetic.</p></main>")
    bad = capture("<p>x</p>", url="https://[::1/page")  # not a valid address: the API answers 400
    too_many_frames = {**good, "frames": good["frames"] * 65}
    vault = Vault.create(tmp_path / "vault", "another caregiver's passphrase", KdfParams.fast())
    try:
        data = _bundle({"a" * 64: good, "b" * 64: bad, "c" * 64: too_many_frames})
        report = import_bundle(vault, Family(vault), data, SHARE)
        assert report.captures_new == 1
        assert [why[:12] for why in report.failed] == ["b" * 12, "c" * 12]
        assert "not a valid address" in report.failed[0]
        assert vault.capture_count() == 1
    finally:
        vault.close()
