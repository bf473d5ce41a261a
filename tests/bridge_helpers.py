"""Helpers for tests that talk to a real bridge app over real HTTP on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.config import ServerConfig

PASSPHRASE = "correct horse battery staple"
EXT_ORIGIN = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
CLIENT = {"X-Kinchart-Client": "test/1"}


def make_config(vault_dir: Path, port: int, unlocked: bool = True, **kw: Any) -> ServerConfig:
    from bridge.vault import Vault

    if not Vault.exists(vault_dir):
        Vault.create(vault_dir, PASSPHRASE).close()
    return ServerConfig(vault_dir=vault_dir, port=port, passphrase=PASSPHRASE if unlocked else None, **kw)


def capture(html: str, url: str = "https://portal.unknown.example/page", **extra: Any) -> dict[str, Any]:
    return {
        "url": url,
        "title": "Page",
        "captured_at": "2026-01-02T03:04:05Z",
        "frames": [{"url": url, "html": html}],
        "extension_version": "test",
        **extra,
    }
