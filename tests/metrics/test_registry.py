"""Every provider a plan may name has a source factory; an unknown one is a clear error."""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import BaseModel

from rollsafe.config.plan import Metrics
from rollsafe.errors import RollsafeError
from rollsafe.metrics import FACTORIES, SourceNeeds, build_source


def providers() -> set[str]:
    union = get_args(Metrics)[0]
    models = [get_args(member)[0] for member in get_args(union)]
    assert all(issubclass(model, BaseModel) for model in models)
    return {get_args(model.model_fields["provider"].annotation)[0] for model in models}


def test_every_provider_of_the_plan_has_a_factory() -> None:
    assert {"scrape", "prometheus", "command", "http"} <= providers()
    assert providers() <= set(FACTORIES), providers() - set(FACTORIES)


def test_an_unknown_provider_is_refused() -> None:
    class Odd(BaseModel):
        provider: str = "carrier-pigeon"

    with pytest.raises(RollsafeError, match="no metric source for provider 'carrier-pigeon'"):
        build_source(Odd(), SourceNeeds(list, lambda: None))
