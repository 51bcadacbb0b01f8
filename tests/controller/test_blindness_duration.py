"""How long a watcher has been blind, in its journal entry and its reason (no processes)."""

from __future__ import annotations

from rollsafe.controller.blindness import Blindness


def test_an_outage_from_the_first_look_counts_from_zero() -> None:
    blindness = Blindness("analysis", after=5.0, action="pause")
    assert not blindness.missed(0.0)
    assert blindness.missed(6.0)
    assert blindness.entry(6.0, "404")["blind_for"] == 6.0
    assert blindness.reason(6.0, "404").startswith("analysis blind: no metrics for 6s (404)")


def test_a_later_outage_counts_from_its_first_failed_look() -> None:
    blindness = Blindness("guards", after=2.0, action="rollback")
    blindness.missed(1.0)
    blindness.saw()
    assert not blindness.missed(10.0)
    assert blindness.missed(12.5)
    assert blindness.entry(12.5, "timeout")["blind_for"] == 2.5
