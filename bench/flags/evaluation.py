"""Evaluation latency per call: rollsafe vs UnleashClient vs OpenFeature, same flags and contexts.

UnleashClient (PyPI) is bootstrapped with the same document and never
initialised, so it has no scheduler and makes no request; the socket layer is
also guarded for the whole measurement and any connection attempt is counted
(the report shows zero). OpenFeature's in-memory provider cannot express a
rollout: it serves static values for the same flag names, which is the floor of
the OpenFeature SDK's own cost.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import socket
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from openfeature import api as openfeature
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

from rollsafe.flags import Engine
from rollsafe.sdk import FlagClient
from rollsafe.sdk.openfeature import RollsafeProvider

FLAGS: dict[str, Any] = {
    "version": 1,
    "features": [
        {
            "name": "rollout-userid",
            "enabled": True,
            "strategies": [
                {
                    "name": "flexibleRollout",
                    "parameters": {"rollout": "50", "stickiness": "userId", "groupId": "r1"},
                    "constraints": [],
                }
            ],
        },
        {
            "name": "rollout-default",
            "enabled": True,
            "strategies": [
                {
                    "name": "flexibleRollout",
                    "parameters": {"rollout": "25", "stickiness": "default", "groupId": "r2"},
                }
            ],
        },
        {
            "name": "constrained",
            "enabled": True,
            "strategies": [
                {
                    "name": "default",
                    "constraints": [
                        {"contextName": "region", "operator": "IN", "values": ["eu", "ch"]},
                        {
                            "contextName": "email",
                            "operator": "STR_ENDS_WITH",
                            "values": ["@example.com"],
                        },
                    ],
                }
            ],
        },
        {"name": "off", "enabled": False, "strategies": [{"name": "default"}]},
    ],
}
FLAG_NAMES = [f["name"] for f in FLAGS["features"]]
HEADLINE = "rollout-userid"


def contexts(count: int = 1000) -> list[dict[str, Any]]:
    regions = ["eu", "us", "ch", "jp"]
    return [
        {
            "userId": f"user-{i}",
            "sessionId": f"s-{i * 7}",
            "properties": {
                "region": regions[i % 4],
                "email": f"u{i}@example.com" if i % 3 else f"u{i}@other.org",
            },
        }
        for i in range(count)
    ]


@dataclass
class Timing:
    implementation: str
    flag: str
    median_ns: float
    p90_ns: float


@dataclass
class EvaluationResult:
    timings: list[Timing]
    agreement: dict[str, float]
    """Per flag: share of contexts on which UnleashClient and rollsafe agree."""
    network_attempts: int
    loop_ns: float
    """The harness's own cost per call (an empty function), included in every figure."""


class NetworkGuard:
    """Refuses and counts every outgoing connection while active."""

    def __init__(self) -> None:
        self.attempts = 0

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        original_connect = socket.socket.connect
        original_create = socket.create_connection

        def refuse(*args: Any, **kwargs: Any) -> Any:
            del args, kwargs
            self.attempts += 1
            raise OSError("network disabled by the benchmark")

        socket.socket.connect = refuse  # type: ignore[method-assign]
        socket.create_connection = refuse
        try:
            yield
        finally:
            socket.socket.connect = original_connect  # type: ignore[method-assign]
            socket.create_connection = original_create


def _time(
    call: Callable[[str, Any], Any], flag: str, inputs: list[Any], batches: int
) -> list[float]:
    """Mean ns per call of each batch (one pass over ``inputs``)."""
    per_call = []
    for _ in range(batches):
        start = time.perf_counter_ns()
        for context in inputs:
            call(flag, context)
        per_call.append((time.perf_counter_ns() - start) / len(inputs))
    return per_call


def _unleash_client(tmp: str) -> Any:
    from UnleashClient import UnleashClient
    from UnleashClient.cache import FileCache

    cache = FileCache("rollsafe-bench", directory=tmp)
    cache.bootstrap_from_dict(FLAGS)
    return UnleashClient(
        url="http://127.0.0.1:9",
        app_name="rollsafe-bench",
        disable_metrics=True,
        disable_registration=True,
        refresh_interval=86400,
        cache=cache,
    )


def measure(batches: int = 60, context_count: int = 1000) -> EvaluationResult:
    logging.getLogger("UnleashClient").setLevel(logging.ERROR)
    inputs = contexts(context_count)
    of_inputs = [
        EvaluationContext(
            targeting_key=c["userId"],
            attributes={"sessionId": c["sessionId"], **c["properties"]},
        )
        for c in inputs
    ]
    guard = NetworkGuard()
    timings: list[Timing] = []
    agreement: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, guard.active():
        engine = Engine.from_unleash(FLAGS)
        sdk = FlagClient(bootstrap=FLAGS)
        unleash = _unleash_client(tmp)
        for flag in FLAG_NAMES:
            agree = sum(
                unleash.is_enabled(flag, dict(c)) == engine.is_enabled(flag, c) for c in inputs
            )
            agreement[flag] = agree / len(inputs)

        openfeature.set_provider_and_wait(RollsafeProvider(sdk), "bench-rollsafe")
        in_memory = InMemoryProvider(
            {name: InMemoryFlag("on", {"on": True, "off": False}) for name in FLAG_NAMES}
        )
        openfeature.set_provider_and_wait(in_memory, "bench-memory")
        of_rollsafe = openfeature.get_client("bench-rollsafe")
        of_memory = openfeature.get_client("bench-memory")

        def empty(flag: str, context: Any) -> bool:
            return False

        implementations: list[tuple[str, Callable[[str, Any], Any], list[Any]]] = [
            ("rollsafe Engine.is_enabled", engine.is_enabled, inputs),
            ("rollsafe FlagClient.is_enabled (SDK)", sdk.is_enabled, inputs),
            ("UnleashClient.is_enabled", unleash.is_enabled, inputs),
            (
                "OpenFeature + rollsafe provider",
                lambda flag, context: of_rollsafe.get_boolean_value(flag, False, context),
                of_inputs,
            ),
            (
                "OpenFeature + in-memory provider (static)",
                lambda flag, context: of_memory.get_boolean_value(flag, False, context),
                of_inputs,
            ),
        ]
        gc.collect()
        gc.disable()
        try:
            loop_ns = statistics.median(_time(empty, HEADLINE, inputs, batches))
            for flag in FLAG_NAMES:
                # Interleaved rounds, so drift on a shared machine hits every implementation alike.
                samples: dict[str, list[float]] = {name: [] for name, _, _ in implementations}
                for _ in range(batches // 10):
                    for name, call, data in implementations:
                        samples[name].extend(_time(call, flag, data, 10))
                for name, _, _ in implementations:
                    values = sorted(samples[name])
                    timings.append(
                        Timing(
                            name,
                            flag,
                            statistics.median(values),
                            values[int(0.9 * (len(values) - 1))],
                        )
                    )
        finally:
            gc.enable()
            openfeature.clear_providers()
            unleash.destroy()
    return EvaluationResult(timings, agreement, guard.attempts, loop_ns)
