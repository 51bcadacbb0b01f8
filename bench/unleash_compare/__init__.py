"""rollsafe server against the official unleash-server, side by side (issue 12, item 5).

``python -m bench.unleash_compare`` starts both servers with the same 350 flags,
one after the other, and loads each with wrk: ``GET /api/client/features``
without and with ``If-None-Match``, and server-side evaluation (rollsafe's OFREP,
single and bulk; Unleash's frontend API, which evaluates every flag for a context).
See docs/benchmarks.md, section "Against unleash-server".
"""
