"""Every target type a plan may name has a factory; an unknown one is a clear error."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel

from rollsafe.config import CommandTarget as CommandTargetConfig
from rollsafe.config import ProcessTarget as ProcessTargetConfig
from rollsafe.config.plan import Target as TargetSection
from rollsafe.errors import RollsafeError
from rollsafe.targets import CommandTarget, ProcessTarget
from rollsafe.targets.registry import FACTORIES, build_target


def target_types() -> set[str]:
    models = [get_args(member)[0] for member in get_args(get_args(TargetSection)[0])]
    assert all(issubclass(model, BaseModel) for model in models)
    return {get_args(model.model_fields["type"].annotation)[0] for model in models}


def test_every_target_type_of_the_plan_has_a_factory() -> None:
    assert target_types() == {"process", "command"}
    assert target_types() <= set(FACTORIES), target_types() - set(FACTORIES)


def test_a_process_section_builds_a_process_target_told_the_store(tmp_path: Path) -> None:
    config = ProcessTargetConfig(root=tmp_path / "app", command=["{python}", "app.py"])
    target = build_target(config, service="shop", home=tmp_path / "home", store="db.sqlite")
    assert isinstance(target, ProcessTarget)
    assert (target.service, target.store) == ("shop", "db.sqlite")


def test_a_command_section_builds_a_command_target(tmp_path: Path) -> None:
    config = CommandTargetConfig(
        deploy=[["true"]], endpoints=["http://127.0.0.1:9"], cwd=tmp_path, state_dir=tmp_path
    )
    target = build_target(config, service="shop", home=tmp_path / "home", store="db.sqlite")
    assert isinstance(target, CommandTarget)


def test_an_unknown_target_type_is_refused(tmp_path: Path) -> None:
    class Odd(BaseModel):
        type: str = "kubernetes"

    with pytest.raises(RollsafeError, match="no target for type 'kubernetes'"):
        build_target(Odd(), service="shop", home=tmp_path)
