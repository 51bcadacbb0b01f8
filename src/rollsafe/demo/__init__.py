"""The bundled sample service and demo: a real shop to roll out, load to drive it, the plan.

- :mod:`rollsafe.demo.shop`: the sample service (releases 1.0.0 and 1.1.0, faults on demand);
- :mod:`rollsafe.demo.load`: an async load generator at a bounded rate;
- :mod:`rollsafe.demo.runner`: ``rollsafe demo``, a progressive rollout of the shop end to end.
"""
