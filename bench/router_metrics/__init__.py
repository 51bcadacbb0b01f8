"""Benchmark of metrics from the router: delay, CPU and memory of reading nginx's records."""
