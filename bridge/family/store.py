"""What the family model needs from the vault, as a Protocol (bridge.vault.Vault satisfies it).

The family model stores only encrypted documents through `put_doc`; every document key is an opaque
id (a uuid or a hash), never a name. Collections used:

- `members`          member id -> member document
- `patient_keys`     hash(normalized patient name, dob, organization) -> {member_id, confirmed}
- `assignments`      capture id -> {member_id, patient_key}: the caregiver's answer per capture, which
                     survives a reparse that rewrites capture meta
- `accounts`         account id (hash of member, host, organization) -> proxy settings
- `member_redirects` merged-away member id -> surviving member id
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

MEMBERS = "members"
PATIENT_KEYS = "patient_keys"
ASSIGNMENTS = "assignments"
ACCOUNTS = "accounts"
REDIRECTS = "member_redirects"


class VaultLike(Protocol):
    def list_captures(self) -> list[Any]: ...
    def get_capture_meta(self, capture_id: str) -> dict[str, Any]: ...
    def set_capture_meta(self, capture_id: str, meta: dict[str, Any]) -> None: ...
    def iter_records(self) -> Iterator[Any]: ...
    def records_for(self, capture_id: str) -> list[Any]: ...
    def put_doc(self, collection: str, key: str, value: dict[str, Any]) -> None: ...
    def get_doc(self, collection: str, key: str) -> dict[str, Any] | None: ...
    def list_docs(self, collection: str) -> dict[str, dict[str, Any]]: ...
    def delete_doc(self, collection: str, key: str) -> None: ...
    def transaction(self) -> AbstractContextManager[Any]: ...
