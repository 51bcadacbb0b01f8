"""Flag changes made through the flag service's API journal exactly the typed payloads,
and the dashboard's flag history reads them back through `rollsafe.journal.payloads`."""

from __future__ import annotations

import re

import httpx

from rollsafe.flags import rollout_feature
from rollsafe.journal.kinds import Kind
from rollsafe.journal.payloads import (
    FlagChanged,
    FlagDeleted,
    definition_after,
    enabled,
    flag_change,
    rollouts,
)
from rollsafe.store.sqlite import SqliteStore
from tests.controller.test_journal_payload_writers import keys_of
from tests.server.test_flags_api import put


def test_set_kill_and_delete_over_http_journal_the_typed_keys(
    api: httpx.Client, store: SqliteStore
) -> None:
    put(api, "checkout", rollout_feature("checkout", 10), 0)
    put(api, "checkout", rollout_feature("checkout", 50), 1)
    assert api.post("/api/admin/flags/checkout/kill").status_code == 200
    api.delete("/api/admin/flags/checkout", params={"expected_version": 3})

    entries = [e for e in store.journal() if e.kind in (Kind.FLAG_CHANGED, Kind.FLAG_DELETED)]
    assert [e.kind for e in entries] == [Kind.FLAG_CHANGED] * 3 + [Kind.FLAG_DELETED]
    for entry in entries[:3]:
        keys_of(FlagChanged, entry.data)
    keys_of(FlagDeleted, entries[3].data)
    changes = [flag_change(e) for e in entries]
    assert [c["version"] for c in changes] == [1, 2, 3, 4]
    after = [definition_after(e) for e in entries]
    assert [enabled(a) for a in after] == [True, True, False, False]
    assert [rollouts(a) for a in after] == [["10"], ["50"], ["50"], []]  # a kill keeps them
    assert after[3] is None
    assert changes[3]["before"] == after[2]


def test_the_dashboard_flag_history_shows_each_change_read_back(
    api: httpx.Client, store: SqliteStore
) -> None:
    put(api, "checkout", rollout_feature("checkout", 10), 0)
    put(api, "checkout", rollout_feature("checkout", 50), 1)
    api.post("/api/admin/flags/checkout/kill")

    page = api.get("/ui/flags/checkout")

    assert page.status_code == 200, page.text
    rows = re.findall(r"<tr>(.*?)</tr>", page.text)[1:]  # newest first, after the header
    assert len(rows) == 3
    states = [re.findall(r'class="state [^"]+">([^<]+)<', row) for row in rows]
    assert states == [["off"], ["on"], ["on"]]
    rollout = [re.findall(r"<td>(\d+%)</td>", row) for row in rows]
    assert rollout == [["0%"], ["50%"], ["10%"]]  # killed: off for everyone
    assert [e.actor for e in store.journal() if e.kind == Kind.FLAG_CHANGED] == ["token ops"] * 3
