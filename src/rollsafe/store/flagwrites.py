"""Writing a flag only when its definition changes.

Every `Store.put_flag` makes a new version, a journal entry and a change that
every stream is sent. Setting a flag to what it already is (a script run twice,
``flags set`` repeated, an API client retrying its PUT) should make none of them.
"""

from __future__ import annotations

from typing import Any

from rollsafe.errors import NotFoundError
from rollsafe.store.protocol import Store
from rollsafe.store.records import DEFAULT_ENVIRONMENT, FlagRecord


def put_flag_if_changed(
    store: Store,
    name: str,
    definition: dict[str, Any],
    *,
    actor: str,
    expected_version: int | None = None,
    environment: str = DEFAULT_ENVIRONMENT,
) -> tuple[FlagRecord, bool]:
    """`Store.put_flag`, unless the flag already has ``definition``: (the record, written?).

    Unchanged means the same definition at the version expected (any, if None); a
    stale ``expected_version`` still gets the store's `ConflictError`.
    """
    try:
        current: FlagRecord | None = store.get_flag(name, environment)
    except NotFoundError:
        current = None
    if (
        current is not None
        and current.definition == definition
        and expected_version in (None, current.version)
    ):
        return current, False
    record = store.put_flag(
        name, definition, actor=actor, expected_version=expected_version, environment=environment
    )
    return record, True
