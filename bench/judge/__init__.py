"""The canary judge benchmark against Kayenta-style and Flagger-style judges.

Run it with ``python -m bench.judge`` (``make bench-judge``).
"""
