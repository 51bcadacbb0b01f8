"""The journal's vocabulary is one module: no kind is spelt as a loose string elsewhere."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from rollsafe.config.notify import DEFAULT_EVENTS
from rollsafe.guards.evaluator import GuardEvent
from rollsafe.journal import canonical_json
from rollsafe.journal.kinds import (
    ROLLBACK_LEVEL_KINDS,
    Kind,
    guard_kind,
    request_kind,
    rollout_kind,
    step_kind,
)
from rollsafe.store.records import RolloutState, StepState

SRC = Path(__file__).resolve().parents[2] / "src" / "rollsafe"
VOCABULARY = SRC / "journal" / "kinds.py"
# config sits below journal in the layers, so a plan's default notification
# events stay strings there; test_default_notified_events_are_kinds checks them.
BELOW_THE_JOURNAL = {SRC / "config" / "notify.py"}
PREFIXES = sorted({kind.value.split(".")[0] for kind in Kind})
# A dotted lowercase name under a kind's prefix that is not a kind (a file name).
NOT_KINDS = {"backup.db", "drill.md", "drill.json"}
KIND_LIKE = re.compile(rf"^(?:{'|'.join(PREFIXES)})\.[a-z_]+$")
KIND_PREFIX = re.compile(rf"^(?:{'|'.join(PREFIXES)})\.")


def kind_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants that are (or look like) journal kinds, and f-strings that build one."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            head = node.values[0] if node.values else None
            if isinstance(head, ast.Constant) and KIND_PREFIX.match(str(head.value)):
                found.append((node.lineno, f"f-string {head.value!r}..."))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and (node.value in Kind._value2member_map_ or KIND_LIKE.match(node.value))
            and node.value not in NOT_KINDS
        ):
            found.append((node.lineno, repr(node.value)))
    return found


def test_no_kind_literal_outside_the_vocabulary() -> None:
    offenders = [
        f"{path.relative_to(SRC.parent)}:{line}: {text}"
        for path in sorted(SRC.rglob("*.py"))
        if path != VOCABULARY and path not in BELOW_THE_JOURNAL
        for line, text in kind_literals(ast.parse(path.read_text(), str(path)))
    ]
    assert offenders == [], "use rollsafe.journal.kinds.Kind instead:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "source",
    [
        'store.append("rollback.level_ended", {}, actor="x")',
        'if entry.kind == "guard.tripped": pass',
        'context.journal(f"step.{state}", data)',
        'KINDS = {"rollout.some_new_state"}',
    ],
)
def test_the_scan_finds_a_kind_literal(source: str) -> None:
    assert kind_literals(ast.parse(source)) != []


def test_the_scan_ignores_other_dotted_strings() -> None:
    source = 'log = getLogger("rollsafe.sdk"); path = "backup.db"; t = "http.response.start"'
    assert kind_literals(ast.parse(source)) == []


def test_default_notified_events_are_kinds() -> None:
    assert [Kind(event) for event in DEFAULT_EVENTS] == list(DEFAULT_EVENTS)


@pytest.mark.parametrize("state", list(StepState))
def test_every_step_state_has_a_kind(state: StepState) -> None:
    assert step_kind(state) == f"step.{state.value}"


@pytest.mark.parametrize("state", list(RolloutState))
def test_every_rollout_state_has_a_kind(state: RolloutState) -> None:
    assert rollout_kind(state) == f"rollout.{state.value}"


@pytest.mark.parametrize("command", ["pause", "abort", "rollback"])
def test_every_request_has_a_kind(command: str) -> None:
    assert request_kind(command) == f"rollout.{command}_requested"


def test_a_cleared_request_has_its_own_kind() -> None:
    assert request_kind(None) is Kind.ROLLOUT_REQUEST_CLEARED


@pytest.mark.parametrize("event", ["firing", "tripped", "cleared"])
def test_every_guard_event_has_a_kind(event: str) -> None:
    assert guard_kind(GuardEvent(event, "g", "critical", 0.0, {}).kind) == f"guard.{event}"


def test_a_state_outside_the_vocabulary_is_refused() -> None:
    with pytest.raises(ValueError, match=r"step\.exploded"):
        step_kind("exploded")


def test_a_kind_is_stored_as_its_plain_string() -> None:
    """Entries written before the vocabulary hash and read back the same."""
    assert canonical_json({"kind": Kind.ROLLBACK_FINISHED}) == canonical_json(
        {"kind": "rollback.finished"}
    )
    assert json.loads(json.dumps(Kind.STEP_RETRY)) == "step.retry"
    assert f"{Kind.METRICS_BLIND}" == str(Kind.METRICS_BLIND) == "metrics.blind"


def test_the_level_kinds_are_every_rollback_level_kind() -> None:
    assert {k for k in Kind if k.startswith("rollback.level")} == ROLLBACK_LEVEL_KINDS
