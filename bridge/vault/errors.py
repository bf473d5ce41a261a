"""The vault's exceptions. Every message is a plain sentence that can be shown to the person as is."""

from __future__ import annotations


class VaultError(Exception):
    """Base class of every vault failure; ``str(error)`` is a sentence for the user."""


class WrongPassphrase(VaultError):
    """The passphrase did not unlock the data key. Nothing was changed.

    Edited key parameters (salt, Argon2id costs) also end up here: without the passphrase nobody can
    tell an edited parameter from a mistyped passphrase, and either way the key stays sealed.
    """


class VaultLocked(VaultError):
    """An operation needed the data key while the vault was locked."""


class TamperedData(VaultError):
    """A stored blob (or the stored key parameters) failed its integrity check: the file was altered
    or damaged. Never returned as garbage."""


class VaultNotFound(VaultError):
    """There is no vault at the given place."""


class VaultExists(VaultError):
    """Creating or restoring would overwrite an existing vault; refused."""


class UnknownCapture(VaultError, KeyError):
    """No capture with that id is stored."""

    def __str__(self) -> str:  # KeyError would print the repr of its argument
        return str(self.args[0]) if self.args else "No such capture is stored."


class InvalidInput(VaultError, ValueError):
    """The caller passed something the vault will not store (a malformed capture, a free-text key...)."""
