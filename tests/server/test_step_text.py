"""The steps table's words for a step's spec and result (`rollsafe.server.ui.step_text`)."""

from __future__ import annotations

from typing import Any

import pytest

from rollsafe.server.ui.step_text import result_text, spec_text


@pytest.mark.parametrize(
    ("spec", "shown"),
    [
        ({"name": "fast-checkout", "rollout": 50.0}, "name=fast-checkout rollout=50"),
        ({"duration": 5.0, "mode": "compare", "on_blind": None}, "duration=5s mode=compare"),
        ({"message": "go?", "timeout": None, "on_timeout": "pause"}, "message=go?"),
        ({"timeout": 600.0, "on_timeout": "rollback"}, "timeout=600s on_timeout=rollback"),
        ({"rollout": 12.5, "sources": ["orders"]}, 'rollout=12.5 sources=["orders"]'),
    ],
)
def test_specs_read_as_a_person_writes_them(spec: dict[str, Any], shown: str) -> None:
    assert spec_text(spec) == shown


@pytest.mark.parametrize(
    ("kind", "result", "shown"),
    [
        ("backup", {"backups": [{"id": "b-1", "source": "orders", "sha256": "ab"}]},
         "backed up orders (b-1)"),
        ("deploy", {"changed": True, "previous": "1.0.0", "release": "1.1.0"}, "1.0.0 → 1.1.0"),
        ("deploy", {"changed": False, "previous": "1.1.0", "release": "1.1.0"},
         "1.1.0 already live"),
        ("flag", {"changed": True, "name": "fast-checkout", "rollout": 50.0, "version": 2},
         "fast-checkout at 50%"),
        ("analysis", {"elapsed": 5.064, "looks": 6, "failed_looks": 0,
                      "verdict": {"verdict": "pass", "metrics": []}},
         "pass after 6 looks in 5.1 s"),
        ("approve", {"approved_by": "token ops", "waited": 1.973},
         "approved by token ops after 2.0 s"),
        ("analysis", {"interrupted_by": "abort"}, "interrupted by abort"),
        ("pause", {}, ""),
    ],
)  # fmt: skip
def test_results_read_as_one_line(kind: str, result: dict[str, Any], shown: str) -> None:
    assert result_text(kind, result) == shown


def test_a_result_of_another_shape_is_shown_as_its_json() -> None:
    assert result_text("flag", {"surprise": 1}) == '{"surprise": 1}'
    assert result_text("promote", {"release": "1.1.0"}) == '{"release": "1.1.0"}'
