"""A digest of what the judge answers to odd observation streams: run under two builds, compare.

    python -m tests.judge.odd_streams [--streams 300]

Random streams in both modes whose values are now and then missing, text, bools, ints
(small and too large for a float), NaN, infinities, negative, lower than before
(resets), or histograms with odd keys and layouts. Every verdict's ``to_dict()`` and
every exception (type and message) goes into the digest. The compiled judge
(``make compile``) must give the digest its Python source gives
(tests/judge/test_compiled.py): same verdicts, same floats, same errors.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
from typing import Any

from rollsafe.config.analysis import AnalysisConfig
from rollsafe.judge import Judge, check_observation

_ODD: tuple[Any, ...] = (None, "x", "12", True, 7, 10**400, -(10**400), math.nan, math.inf, -1.0)
_LAYOUTS: tuple[tuple[str, ...], ...] = (
    ("0.05", "0.1", "0.5", "+Inf"),
    ("0.05", "0.1", "0.5", "+Inf"),
    ("0.5", "0.05", "+Inf", "0.1"),
    ("0.1", "0.5"),
    ("a", "+Inf"),
)


def _value(rng: random.Random, good: float) -> Any:
    roll = rng.random()
    if roll < 0.9:
        return good if rng.random() < 0.8 else int(good)
    return rng.choice(_ODD)


def _stream(rng: random.Random, arms: tuple[str, ...]) -> list[dict[str, Any]]:
    totals = {arm: [0.0, 0.0, 0.0, 0.0] for arm in arms}
    bad = rng.choice([1.0, 1.5, 4.0])
    stream = []
    for second in range(rng.randint(5, 120)):
        for arm in arms:
            counts = totals[arm]
            if rng.random() < 0.03:
                counts[:] = [0.0, 0.0, 0.0, 0.0]  # a restart
            n = float(rng.randint(0, 60))
            slow = float(rng.randint(0, int(n)))
            rate = 0.02 * (bad if arm == "canary" else 1.0)
            errors = float(sum(rng.random() < rate for _ in range(int(n))))
            counts[0] += n
            counts[1] += errors
            counts[2] += n - slow
            counts[3] += n - slow / 2
            keys = _LAYOUTS[0] if rng.random() < 0.9 else rng.choice(_LAYOUTS)
            values = sorted([counts[2], counts[3], counts[0], counts[0]])
            observation: dict[str, Any] = {
                "t": _value(rng, float(second)) if rng.random() < 0.05 else float(second),
                "arm": arm if rng.random() < 0.98 else rng.choice(["", 7, "other"]),
                "requests": _value(rng, counts[0]),
                "errors": _value(rng, counts[1]),
                "latency_seconds_bucket": {
                    key: _value(rng, value) for key, value in zip(keys, values, strict=False)
                },
                "memory_bytes": _value(rng, 1e8 + 1e5 * second * (bad - 1)),
            }
            for name in list(observation):
                if rng.random() < 0.02:
                    del observation[name]
            stream.append(observation)
    return stream


def digest(streams: int, seed: int = 0) -> tuple[str, int]:
    """(digest, verdicts and errors hashed) over ``streams`` random streams."""
    rng = random.Random(seed)
    hasher = hashlib.sha256()
    count = 0
    for index in range(streams):
        mode = "health" if index % 4 == 3 else "compare"
        arms = ("canary", "baseline") if mode == "compare" else ("a", "b", "c")
        config = AnalysisConfig(min_requests=rng.choice([1, 50]))
        judge = Judge(config, mode=mode)
        for observation in _stream(rng, arms):
            try:
                check_observation(observation)
                outcome: Any = judge.update(observation).to_dict()
            except (ValueError, TypeError) as error:
                outcome = [type(error).__name__, str(error)]
            hasher.update(json.dumps(outcome, sort_keys=True, default=repr).encode())
            count += 1
        hasher.update(json.dumps(judge.conclude().to_dict(), sort_keys=True).encode())
    return hasher.hexdigest()[:16], count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=300)
    args = parser.parse_args(argv)
    value, count = digest(args.streams)
    print(f"odd streams: {value}, {count} answers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
