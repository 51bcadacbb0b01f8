"""Lists whose sort key ties (same timestamp) come back in one order on both backends.

Before the rules were shared, SQLite ordered backups and tokens by time alone
(ties in storage order) while PostgreSQL broke ties by id.
"""

from __future__ import annotations

import dataclasses

from rollsafe.store import Store
from rollsafe.store.records import BackupRecord, TokenRecord, TokenScope


def test_backups_with_one_timestamp_are_listed_by_id(store: Store) -> None:
    backup = BackupRecord(
        id="b2",
        source="orders",
        kind="sqlite",
        path="/backups/orders.db",
        sha256="cd" * 32,
        size=1,
        created_at=2.5,
        rollout_id=None,
        manifest={},
    )
    for backup_id in ["b2", "b3", "b1"]:
        store.add_backup(dataclasses.replace(backup, id=backup_id), actor="c")
    assert [b.id for b in store.list_backups()] == ["b1", "b2", "b3"]
    assert [b.id for b in store.list_backups("orders")] == ["b1", "b2", "b3"]


def test_tokens_with_one_timestamp_are_listed_by_id(store: Store) -> None:
    token = TokenRecord(
        id="t2",
        name="sdk",
        scope=TokenScope.CLIENT,
        environment="*",
        sha256="ab" * 32,
        created_at=1.5,
        created_by="admin",
    )
    for token_id in ["t2", "t3", "t1"]:
        store.add_token(dataclasses.replace(token, id=token_id), actor="admin")
    assert [t.id for t in store.list_tokens()] == ["t1", "t2", "t3"]
