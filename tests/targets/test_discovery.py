"""The process target's Prometheus targets file: every change of the ready instances, and never
a reason for a deploy or a stop to fail."""

from __future__ import annotations

import json
from pathlib import Path

from rollsafe.targets import ProcessTarget
from tests.targets.conftest import MakeRelease, MakeTarget


def listed(target: ProcessTarget) -> set[tuple[int, str, str, str]]:
    groups = json.loads(target.discovery.read_text())
    return {
        (int(g["targets"][0].rsplit(":", 1)[1]), g["labels"]["release"], *_slot(g)) for g in groups
    }


def _slot(group: dict[str, object]) -> tuple[str, str]:
    labels = group["labels"]
    assert isinstance(labels, dict)
    return labels["instance"], labels["role"]


def ready(target: ProcessTarget) -> set[tuple[int, str, str, str]]:
    return {(i.port, i.release, str(i.index), i.role) for i in target.instances()}


def test_the_targets_file_follows_every_change_of_the_instances(
    make_target: MakeTarget, make_release: MakeRelease, home: Path
) -> None:
    make_release("v1")
    make_release("v2")
    target = make_target()
    assert target.discovery == home / "discovery" / "svc.json"
    target.deploy("v1")
    assert listed(target) == ready(target)
    assert len(listed(target)) == 2
    target.deploy_canary("v2")
    assert ("v2", "0", "canary") in {entry[1:] for entry in listed(target)}
    assert listed(target) == ready(target)
    target.stop_canary()
    target.restart()
    assert listed(target) == ready(target)
    target.stop()
    assert json.loads(target.discovery.read_text()) == []
    assert list(target.discovery.parent.iterdir()) == [target.discovery]  # no temporary left


def test_a_targets_file_that_cannot_be_written_fails_no_deploy_or_stop(
    make_target: MakeTarget, make_release: MakeRelease
) -> None:
    make_release("v1")
    target = make_target()
    target.discovery.mkdir(parents=True)  # a directory where the file goes: replace fails
    target.deploy("v1")
    assert len(target.instances()) == 2
    target.stop()
    assert target.instances() == []
