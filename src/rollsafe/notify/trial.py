"""Send one sample notification to each channel of a plan, now, and say how each went.

``rollsafe notify test PLAN`` uses it before a rollout depends on the channels:
a wrong ``url_env``, a missing secret, a revoked Slack URL or a Workflows flow
that rejects the card shows up here, not during an incident. The sample reads
as a test (its title starts ``[test]``) and is sent synchronously, with the
channel's own timeout and retries.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from rollsafe.config.notify import ANALYSIS_FAILED, NotifyChannel
from rollsafe.errors import RollsafeError
from rollsafe.journal import JournalEntry, Kind
from rollsafe.notify.channels import channel_label, open_channel
from rollsafe.notify.message import describe

_SAMPLES: dict[str, tuple[Kind, dict[str, Any]]] = {
    str(Kind.GUARD_TRIPPED): (
        Kind.GUARD_TRIPPED,
        {
            "guard": "error-rate",
            "severity": "critical",
            "metric": "error_rate",
            "value": 0.25,
            "threshold": 0.05,
            "window": 10.0,
            "t": 0.0,
        },
    ),
    ANALYSIS_FAILED: (
        Kind.ANALYSIS_VERDICT,
        {
            "verdict": {
                "verdict": "fail",
                "metrics": [
                    {
                        "name": "error_rate",
                        "verdict": "fail",
                        "reason": "canary error rate above baseline",
                    }
                ],
            },
            "looks": 12,
            "elapsed": 60.0,
        },
    ),
    str(Kind.ROLLOUT_PROMOTED): (
        Kind.ROLLOUT_PROMOTED,
        {"from": "running", "to": "promoted", "step_index": 3, "reason": "all steps succeeded"},
    ),
}
SAMPLE_EVENTS = tuple(_SAMPLES)


def sample_entry(event: str) -> JournalEntry:
    """A journal entry for ``event`` that was never stored (seq 0, rollout ``test``)."""
    kind, data = _SAMPLES[event]
    return JournalEntry(
        seq=0,
        ts=time.time(),
        kind=kind,
        actor="rollsafe notify test",
        rollout_id="test",
        data=data,
        prev_hash="",
        hash=f"test-{time.time_ns()}",
    )


def send_samples(
    configs: Sequence[NotifyChannel],
    service: str,
    event: str = str(Kind.GUARD_TRIPPED),
    environ: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Each channel's outcome: ``channel``, ``ok``, ``attempts``, ``status``, ``error``."""
    environ = os.environ if environ is None else environ
    message = describe(sample_entry(event), service)
    message = dataclasses.replace(message, title=f"[test] {message.title}")
    results = []
    for index, config in enumerate(configs):
        label = channel_label(index, config)
        try:
            channel = open_channel(index, config, environ)
        except RollsafeError as error:
            results.append(
                {"channel": label, "ok": False, "attempts": 0, "status": None, "error": str(error)}
            )
            continue
        outcome = channel.sender.deliver(message)
        channel.sender.finish()
        channel.sender.join(time.monotonic() + 1.0)
        results.append(
            {
                "channel": label,
                "ok": outcome.ok,
                "attempts": outcome.attempts,
                "status": outcome.status,
                "error": outcome.error,
            }
        )
    return results
