"""Feature flag benchmarks: evaluation latency side by side, and propagation to 1,000 streams."""
