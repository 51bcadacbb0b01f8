"""A service instrumented the Micrometer way, on loopback: the names rollsafe does not own.

Spring Boot's Micrometer exposes ``http_server_requests_seconds`` (count, sum and,
with histograms on, buckets) labelled ``status`` and ``uri``; the release label
here is the one Prometheus discovery would add. The test sets the counters.
"""

from __future__ import annotations

from tests.metrics.exposition import Exposition

BOUNDS = ("0.05", "0.1", "0.5", "+Inf")


class Micrometer(Exposition):
    """``set(ok=, failed=, slow=)``: requests answered 200 and 500, and how many took > 0.1 s."""

    def __init__(self, release: str) -> None:
        super().__init__()
        self.release = release
        self.set(ok=0, failed=0)

    def set(self, *, ok: int, failed: int, slow: int = 0, memory: float = 5e7) -> None:
        name = "http_server_requests_seconds"
        labels = f'application="shop",release="{self.release}",uri="/checkout"'
        lines = [f"# TYPE {name} histogram"]
        for status, count in (("200", ok), ("500", failed)):
            fast = count - (slow if status == "200" else 0)
            for bound in BOUNDS:
                value = count if bound in ("0.5", "+Inf") else fast
                lines.append(f'{name}_bucket{{{labels},status="{status}",le="{bound}"}} {value}')
            lines.append(f'{name}_count{{{labels},status="{status}"}} {count}')
            lines.append(f'{name}_sum{{{labels},status="{status}"}} {count * 0.02}')
        lines += [
            "# TYPE jvm_memory_used_bytes gauge",
            f'jvm_memory_used_bytes{{area="heap",release="{self.release}"}} {memory}',
        ]
        self.text = "\n".join(lines) + "\n"
