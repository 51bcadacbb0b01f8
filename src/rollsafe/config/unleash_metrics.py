"""Metrics from Unleash SDKs' impact metrics (``metrics.provider: unleash``).

A service in any language whose Unleash SDK reports impact metrics with a flag
context (``incrementCounter('requests', 1, {flagNames: ['checkout'], context})``)
labels each sample with the flag's variant for that user (``new``, ``old``;
``enabled`` / ``disabled`` for a flag without variants). rollsafe's flag service
stores those samples (`rollsafe.store.rules.usage`); this source reads them from
the same store and puts each arm's samples together: the canary arm is the
samples whose label ``flag`` equals ``canary``, the baseline those equal to
``baseline``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from rollsafe.config.metric_sources import Arms

ImpactName = Annotated[str, Field(min_length=1, max_length=255)]


class UnleashMetrics(Arms):
    """Read per-variant impact metrics that SDKs sent to the flag service, from its store."""

    provider: Literal["unleash"]
    store: Annotated[str, Field(min_length=1, max_length=4000)]
    """The flag service's state store: a SQLite path (a directory means its ``rollsafe.db``)
    or a ``postgresql://`` URL."""
    flag: ImpactName
    """The flag whose variants are the arms (the label SDKs add for it)."""
    environment: ImpactName = "default"
    requests: ImpactName
    """Impact counter of requests (or any unit of work)."""
    errors: ImpactName
    """Impact counter of the failed ones."""
    latency: ImpactName | None = None
    """Impact histogram of latency in seconds."""
    memory: ImpactName | None = None
    """Impact gauge of memory in bytes (the mean of the arm's samples in the latest minute)."""
    app_name: ImpactName | None = None
    """Only samples of this application (their ``appName`` label)."""
