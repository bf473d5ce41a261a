"""What the running bridge holds: the vault (locked or not), the family index while unlocked, pairing."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from aiohttp import web

from bridge.config import ServerConfig
from bridge.family import Family
from bridge.vault import Vault, VaultError

from .gate import Gate
from .pairing import Pairing

log = logging.getLogger(__name__)


class BridgeState:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.pairing = Pairing(config.vault_dir)
        self.vault: Vault | None = Vault.open(config.vault_dir) if Vault.exists(config.vault_dir) else None
        self._family: Family | None = None
        self._seen_version = -1
        self.last_activity = time.monotonic()
        self.idle_lock_minutes: float = config.idle_lock_minutes
        # Saves, reparse, imports and dashboard forms hold the gate; locking closes it and waits for them.
        self.gate = Gate()
        # The family model is made once per unlock, by whichever worker thread asks first.
        self._family_guard = threading.Lock()
        if self.vault is not None and config.passphrase is not None:
            self.vault.unlock(config.passphrase)
            self._load_settings()

    @property
    def exists(self) -> bool:
        return self.vault is not None

    @property
    def unlocked(self) -> bool:
        return self.vault is not None and self.vault.unlocked

    async def create(self, passphrase: str) -> None:
        """Make the vault. The key derivation (Argon2id: about half a second of CPU and memory) runs in
        a worker thread, so the bridge keeps answering meanwhile."""
        if self.vault is not None:
            raise VaultError("A vault already exists here.")
        vault = await asyncio.to_thread(Vault.create, self.config.vault_dir, passphrase)
        if self.vault is not None:  # lost a race with another setup form
            vault.close()
            raise VaultError("A vault already exists here.")
        self.vault = vault

    def unlock(self, passphrase: str) -> None:
        """Unlock here and now (outside the event loop: scripts and tests)."""
        if self.vault is None:
            raise VaultError("There is no vault yet: create one first.")
        self.vault.unlock(passphrase)
        self.touch()
        self._load_settings()

    async def unlock_in_worker(self, passphrase: str) -> None:
        """Unlock from the event loop: the key derivation runs in a worker thread (see `create`)."""
        await asyncio.to_thread(self.unlock, passphrase)

    def _load_settings(self) -> None:
        """The caregiver's saved dashboard settings (idle-lock time), read once the vault is open. A
        damaged settings document is reported by the vault (`Vault.integrity`, `kinchart check`) and
        the defaults are used: the bridge still starts, and saving the settings writes it afresh."""
        if self.vault is None or not self.vault.unlocked:
            return
        try:
            saved = self.vault.get_doc("settings", "dashboard") or {}
        except VaultError:
            log.warning("the dashboard settings are damaged: using the defaults (see `kinchart check`)")
            return
        if isinstance(saved.get("idle_lock_minutes"), int):
            self.idle_lock_minutes = saved["idle_lock_minutes"]

    def lock(self) -> None:
        with self._family_guard:
            if self._family is not None:
                self._family.close()
            self._family = None
            if self.vault is not None:
                self.vault.lock()

    async def lock_keeping_index(self) -> None:
        """Lock, having first kept the family's timeline index in the vault's index cache (sealed
        with the data key), so that the next unlock reads it instead of every record. No capture is
        being saved meanwhile (the gate is closed first), and a failure to write the cache never stops
        the lock."""
        async with self.gate.closed():
            family = self._family
            if family is not None and self.unlocked and self.vault is not None:
                current = self.vault.external_version() == self._seen_version
                if current:
                    try:
                        await asyncio.to_thread(family.save_cache)
                    except Exception as exc:  # the lock matters more than the cache
                        log.warning("index cache not written (%s)", type(exc).__name__)
            await asyncio.to_thread(self.lock)

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    @property
    def family(self) -> Family | None:
        """The family model over the unlocked vault, built once per unlock. It can take seconds (the
        index) and waits on the family's lock: ask from a worker thread (`asyncio.to_thread`), not the loop."""
        with self._family_guard:
            return self._current_family()

    def _current_family(self) -> Family | None:
        if not self.unlocked:
            return None
        if self._family is None:
            assert self.vault is not None
            self._family = Family(self.vault)
            self._seen_version = self.vault.external_version()
        else:
            assert self.vault is not None
            version = self.vault.external_version()
            if version != self._seen_version:  # e.g. `kinchart import` ran while the bridge was unlocked
                self._family.refresh()
                self._seen_version = version
        return self._family

    def require_vault(self) -> Vault:
        if self.vault is None or not self.vault.unlocked:
            raise web.HTTPServiceUnavailable(text="The vault is locked.")
        return self.vault


STATE: web.AppKey[BridgeState] = web.AppKey("state", BridgeState)
