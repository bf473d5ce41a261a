"""The running bridge notices when another process (`kinchart import`) wrote to the vault."""

from __future__ import annotations

from pathlib import Path

from bridge_helpers import PASSPHRASE, capture, make_config

from bridge.family import Family
from bridge.ingest import ingest
from bridge.server.state import BridgeState
from bridge.vault import Vault


def test_import_from_another_process_shows_without_relock(tmp_path: Path) -> None:
    state = BridgeState(make_config(tmp_path / "vault", 1))
    family = state.family
    assert family is not None
    member = family.create_member(name="Synthetic Person")
    assert family.timeline(limit=None).total == 0
    other = Vault.open(tmp_path / "vault")  # what `kinchart import` opens: its own connection
    other.unlock(PASSPHRASE)
    other_family = Family(other)
    receipt = ingest(other, capture("<main><p>A synthetic letter.</p></main>"), other_family)
    other_family.assign(receipt.capture_id, member.id)
    other.close()
    family = state.family
    assert family is not None
    assert family.timeline(limit=None).total == 1
