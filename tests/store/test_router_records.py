"""Which router fronts a target root: recorded once, replaced when it changes, on both backends."""

from __future__ import annotations

import dataclasses

from rollsafe.store import Store
from rollsafe.store.records import RouterRecord

NGINX = RouterRecord(
    root="/srv/shop",
    service="shop",
    kind="nginx",
    home="/home/rollsafe/routers/shop",
    config={"type": "nginx", "listen_port": 8080},
    updated_at=0.0,
    updated_by="",
)


def recorded(store: Store) -> list[dict[str, object]]:
    return [dict(e.data) for e in store.journal() if e.kind.startswith("router.")]


def test_a_router_record_is_kept_per_root_and_journaled_only_when_it_changes(store: Store) -> None:
    assert store.get_router("/srv/shop") is None
    store.put_router(NGINX, actor="cli")
    store.put_router(NGINX, actor="cli")  # the same again: no new journal entry
    found = store.get_router("/srv/shop")
    assert found is not None
    assert (found.service, found.home, found.config) == ("shop", NGINX.home, NGINX.config)
    assert found.updated_by == "cli"
    assert found.updated_at > 0
    assert len(recorded(store)) == 1

    moved = dataclasses.replace(NGINX, config={"type": "nginx", "listen_port": 9090})
    store.put_router(moved, actor="ci")
    found = store.get_router("/srv/shop")
    assert found is not None
    assert found.config["listen_port"] == 9090
    assert found.updated_by == "ci"
    assert store.get_router("/srv/other") is None
    assert len(recorded(store)) == 2

    store.delete_router("/srv/shop", actor="cli")
    store.delete_router("/srv/shop", actor="cli")  # idempotent, journaled once
    assert store.get_router("/srv/shop") is None
    assert [e.kind for e in store.journal() if e.kind.startswith("router.")] == [
        "router.recorded",
        "router.recorded",
        "router.forgotten",
    ]
    assert store.verify_journal().ok
