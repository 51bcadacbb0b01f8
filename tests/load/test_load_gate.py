"""The load step: the same traffic at two real loopback services, judged side by side.

The services are real HTTP processes (tests/load/slow_service.py) whose every
request sleeps a set delay; a candidate 20% slower than its baseline must fail
the gate, the same service twice must pass it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from rollsafe.config.load_step import LoadStep
from rollsafe.controller import Controller, loadgen, wrk
from rollsafe.controller.loadgate import LoadResult, _blurred, _overrun, measure
from rollsafe.errors import RollsafeError
from rollsafe.journal.kinds import Kind
from rollsafe.report.incident import build_incident, render_markdown
from rollsafe.store import RolloutState, open_store_url
from tests.load.services import slow_service

BASE = 0.2
"""200 ms per request: a 20% slower release is 40 ms slower. What the gate measures is the
latency its client sees, service time plus the client's own delays; on a busy machine those
add tens of milliseconds to both arms and dilute a 20% slower service towards the 10%
margin (at 50 ms per request, 1 run in 10 then passed). 200 ms keeps the dilution small."""


def quick(baseline: str, candidate: str, **options: object) -> LoadStep:
    settings: dict[str, object] = {
        "duration": 2.5,
        "rate": 50,
        "connections": 32,
        "warmup": 0.5,
        "baseline": baseline,
        "candidate": candidate,
    }
    return LoadStep.model_validate(settings | options)


STARVED = (
    "the load generator was itself late",
    "requests (all connections busy)",
    "too little traffic",
)
"""The gate's words for "this machine was too busy to measure": inconclusive, never a pass.
At 50 requests/s for 2.5 s an arm sends ~125 requests; fewer than min_requests (50) came
back only when the services were starved of CPU (p50 1.6 s for a 200 ms service under
``-n 4`` on a loaded 2-core machine)."""


def measured(
    baseline: str, candidate: str, spec: LoadStep, *, until_decided: bool = False
) -> LoadResult:
    """The gate's result, measured again (up to 3 times) while the machine is too busy.

    On a shared 2-core machine the client is sometimes starved for seconds; the
    gate then says so (inconclusive) instead of passing on its own noise. Those
    runs are retried: what these tests check is the verdict on a measurable run.

    ``until_decided`` retries any inconclusive run. wrk reports no lag of its own:
    when one arm's wrk process is starved for a moment, a few of that arm's requests
    look slow (in one CI run under ``-n 4``, 20 of ~320 past 223 ms for two copies of
    one 200 ms service, e=223 where a fail needs 320). The gate rightly calls that
    inconclusive, never a fail; a healthy pair must still pass a run in three.
    """
    for _ in range(3):
        result = measure({"baseline": baseline, "candidate": candidate}, spec)
        starved = any(w in result.reason for w in STARVED)
        if not (result.verdict == "inconclusive" and (starved or until_decided)):
            return result
    return result


# -- process-free ------------------------------------------------------------


def test_each_latency_lands_in_the_first_bucket_at_or_above_it() -> None:
    record = loadgen.ArmRecord("http://x/")
    for seconds in (0.0001, loadgen.BOUNDS[0], 0.05, loadgen.BOUNDS[40], 1e6):
        record.record(seconds, None)
    record.record(0.01, "HTTP 500")
    buckets = record.observation(1.0, "canary")["latency_seconds_bucket"]
    assert buckets[repr(loadgen.BOUNDS[0])] == 2
    assert buckets["+Inf"] == 5  # errors are counted as requests, not as latencies
    index = next(k for k, bound in enumerate(loadgen.BOUNDS) if bound >= 0.05)
    assert buckets[repr(loadgen.BOUNDS[index])] - buckets[repr(loadgen.BOUNDS[index - 1])] == 1
    assert buckets[repr(loadgen.BOUNDS[40])] - buckets[repr(loadgen.BOUNDS[39])] == 1
    assert buckets[repr(loadgen.BOUNDS[-1])] == 4  # 1e6 s is beyond the last bound
    assert record.observation(1.0, "canary")["errors"] == 1


WRK_OUTPUT = """\
Running 2s test @ http://127.0.0.1:8080/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    51.02ms    1.10ms  55.30ms   80.00%
    Req/Sec    78.10      5.00    80.00     90.00%
  Latency Distribution
     50%   50.99ms
     75%   51.80ms
     90%   52.97ms
     99%   54.10ms
  158 requests in 2.01s, 12.34KB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:     78.61
Transfer/sec:      6.14KB
rollsafe-latency-us 50990:100 51800:50 54100:8
"""


def test_wrk_output_is_read_whole() -> None:
    result = wrk.parse(WRK_OUTPUT)
    assert result.requests == 158
    assert result.seconds == pytest.approx(2.01)
    assert result.rate == pytest.approx(78.61)
    assert result.errors == 4 + 1 + 2
    assert result.percentiles["99"] == pytest.approx(0.0541)
    assert sorted(result.latencies.items()) == [
        (pytest.approx(0.05099), 100),
        (pytest.approx(0.0518), 50),
        (pytest.approx(0.0541), 8),
    ]


def test_output_that_is_not_a_wrk_summary_is_refused() -> None:
    with pytest.raises(RollsafeError, match=r"not a wrk summary.*unable to connect"):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"baseline": "http://127.0.0.1:1/"}, "both baseline and candidate"),
        ({"tool": "wrk"}, "rate: null with tool: wrk"),
        ({"margin": 0}, "margin"),
        ({"baseline": "ftp://x/", "candidate": "http://y/"}, "baseline"),
    ],
)
def test_bad_load_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        LoadStep.model_validate(options)


# -- real services -----------------------------------------------------------


@pytest.mark.slow
def test_the_same_release_twice_passes() -> None:
    with slow_service(BASE) as baseline, slow_service(BASE) as candidate:
        result = measured(baseline, candidate, quick(baseline, candidate))
    assert result.verdict == "pass", result.reason
    arms = result.summary["arms"]
    assert arms["baseline"]["ok"] >= 80
    assert arms["candidate"]["ok"] >= 80
    assert 195 <= arms["candidate"]["p50_ms"] <= 300
    assert result.summary["throughput"]["ok"] is True


@pytest.mark.slow
def test_a_release_slowed_by_20_percent_fails() -> None:
    with slow_service(BASE) as baseline, slow_service(BASE * 1.2) as candidate:
        result = measured(baseline, candidate, quick(baseline, candidate))
    assert result.verdict == "fail"
    assert "latency" in result.reason
    assert "slower" in result.reason
    arms = result.summary["arms"]
    assert arms["candidate"]["p50_ms"] > arms["baseline"]["p50_ms"] + 20
    assert result.summary["judge"]["verdict"] == "fail"


@pytest.mark.slow
def test_a_slowdown_within_the_margin_passes() -> None:
    # 3% slower (6 ms) is below the 10% practical margin: it must not fail the gate.
    with slow_service(BASE) as baseline, slow_service(BASE * 1.03) as candidate:
        result = measured(baseline, candidate, quick(baseline, candidate))
    assert result.verdict == "pass", result.reason


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_judges_the_same_way() -> None:
    with (
        slow_service(BASE) as baseline,
        slow_service(BASE) as same,
        slow_service(BASE * 1.2) as slower,
    ):
        healthy = measured(
            baseline,
            same,
            quick(baseline, same, tool="wrk", rate=None, duration=2),
            until_decided=True,
        )
        slowed = measured(
            baseline, slower, quick(baseline, slower, tool="wrk", rate=None, duration=2)
        )
    assert healthy.summary["tool"] == "wrk"
    assert healthy.verdict == "pass", healthy.reason
    assert healthy.summary["arms"]["baseline"]["wrk_percentiles"]["50"] > 0.19
    assert slowed.verdict == "fail"
    assert "latency" in slowed.reason


PLAN = """\
version: 1
service: shop
target:
  type: command
  deploy: [["true"]]
  endpoints: ["{endpoint}"]
  health: {{timeout: 500ms, interval: 100ms, retries: 2}}
  cwd: .
  state_dir: state
rollback:
  levels: [flags]
  verify: {{for: 1s, interval: 200ms}}
steps:
  - deploy: {{release: 2.0.0}}
  - load: {{baseline: "{baseline}", candidate: "{candidate}", duration: 2500ms, rate: 50,
            connections: 16, warmup: 500ms}}
  - promote:
"""


@pytest.mark.slow
@pytest.mark.parametrize(("factor", "state"), [(1.0, "promoted"), (1.5, "rolled_back")])
def test_a_load_step_gates_a_rollout_and_is_journaled(
    tmp_path: Path, healthy_endpoint: str, factor: float, state: str
) -> None:
    # The wiring, not the sensitivity, is under test here (the tests above): a clear slowdown.
    with slow_service(BASE / 2) as baseline, slow_service(BASE / 2 * factor) as candidate:
        plan = tmp_path / "plan.yaml"
        plan.write_text(
            PLAN.format(endpoint=healthy_endpoint, baseline=baseline, candidate=candidate)
        )
        store = open_store_url(str(tmp_path / "rollsafe.db"))
        try:
            controller = Controller(store, tmp_path)
            rollout = controller.run(controller.create(plan).id)
            entries = store.journal(rollout.id)
        finally:
            store.close()
    verdicts = [e.data for e in entries if e.kind == Kind.LOAD_VERDICT]
    starved = any(w in (rollout.reason or "") for w in STARVED)
    if rollout.state is RolloutState.PAUSED and (factor == 1.0 or starved):
        # A machine too busy to measure pauses the rollout (never passes it, nor rolls a
        # slower release back on noise): say so. The 1.5x case was seen paused so with the
        # client's event loop 68 ms late under -n 4 beside other sessions' load.
        assert starved, rollout.reason
        pytest.skip(f"the machine was too busy to measure: {rollout.reason}")
    assert rollout.state is RolloutState(state), json.dumps(verdicts)[:3000]
    assert len(verdicts) == 1
    assert verdicts[0]["outcome"] == ("pass" if factor == 1.0 else "fail")
    started = [e.data for e in entries if e.kind == Kind.LOAD_STARTED]
    assert started[0]["urls"] == {"baseline": baseline, "candidate": candidate}
    report = render_markdown(build_incident(entries))
    assert "## Performance gates" in report
    assert f"### Load step 1: {verdicts[0]['outcome']} (builtin" in report
    if state == "rolled_back":
        assert "load gate failed" in (rollout.reason or "")
        assert "latency: p50" in report  # the trigger: the judge's words for the slowdown


def test_a_starved_client_cannot_pass_a_release() -> None:
    spec = LoadStep(baseline="http://a/", candidate="http://b/")
    # The generator's loop typically 30 ms late, against a 10 ms slowdown to detect
    # (10% of a 100 ms baseline): a pass would be its own noise.
    lag, reason = _blurred(spec, 100.0, [0.03] * 50 + [0.0] * 10)
    assert reason is not None
    assert "late by 30 ms" in reason
    assert lag == {"p50": 30.0, "p90": 30.0, "max": 30.0, "limit": 10.0}
    assert _blurred(spec, 100.0, [0.002] * 60)[1] is None
    assert _blurred(spec, 10.0, [0.004] * 60)[1] is None  # 5 ms floor: slowdown_margin
    assert _blurred(spec, 10.0, [0.006] * 60)[1] is not None
    assert _blurred(spec, 10.0, []) == (None, None)  # no samples (wrk): nothing to record


def test_arms_that_could_not_keep_the_rate_cannot_pass() -> None:
    kept, skipping = loadgen.ArmRecord("http://a/"), loadgen.ArmRecord("http://b/")
    kept.sent, skipping.sent, skipping.dropped = 100, 97, 3
    reason = _overrun({"baseline": kept, "canary": skipping})
    assert reason is not None
    assert "candidate arm skipped 3 of 100 requests" in reason
    skipping.sent, skipping.dropped = 99, 1  # 1%: within the limit
    assert _overrun({"baseline": kept, "canary": skipping}) is None
