"""The kill torture of ``bench/torture.py``, a few runs, as a test (opt-in: minutes long).

Set ``ROLLSAFE_TORTURE=1`` to run it; ``ROLLSAFE_TORTURE_STORES=sqlite,postgres``
chooses the stores (SQLite alone by default). One run per kill point: SIGKILL at
a random time, during levels 1, 2 and 3, during the restore and right after it;
each run must end rolled back with no violation (see the benchmark's docstring).
"""

from __future__ import annotations

import os
import random

import pytest
from bench.torture import KILL_POINTS, run_once

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("ROLLSAFE_TORTURE"), reason="set ROLLSAFE_TORTURE=1 (minutes long)"
    ),
]
STORES = os.environ.get("ROLLSAFE_TORTURE_STORES", "sqlite").split(",")


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize("kill_point", KILL_POINTS)
def test_a_controller_killed_there_resumes_to_a_consistent_rollback(
    store: str, kill_point: str
) -> None:
    run = run_once(0, store, kill_point, random.Random(f"{store} {kill_point}"))
    assert run.violations == [], run
    assert run.state == "rolled_back"
    assert (run.restores, run.level_3_ended) == (1, 1)
    assert run.lost_unlisted == 0
