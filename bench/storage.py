"""Storage: raw captures as stored (compressed, encrypted, with their framing) against their HTML size.
Target: no more than 25%."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from _common import figure, fixture_pages

from bridge.vault import KdfParams, Vault


def main() -> None:
    pages = fixture_pages()
    html_bytes = sum(len(html.encode("utf-8")) for _, html in pages)
    with tempfile.TemporaryDirectory() as tmp:
        vault = Vault.create(Path(tmp) / "v", "bench passphrase", kdf=KdfParams.fast())
        for url, html in pages:
            vault.put_capture(
                {
                    "url": url,
                    "title": None,
                    "captured_at": "2026-11-25T09:00:00Z",
                    "frames": [{"url": url, "html": html}],
                    "extension_version": "bench",
                }
            )
        db = vault.db_path
        vault.close()
        with sqlite3.connect(db) as conn:
            stored = conn.execute("SELECT SUM(LENGTH(body)) FROM captures").fetchone()[0]
    figure("storage.html", html_bytes / 1024, "KiB")
    figure("storage.stored", stored / 1024, "KiB")
    figure("storage.ratio", 100 * stored / html_bytes, "%", "<= 25%")


if __name__ == "__main__":
    main()
