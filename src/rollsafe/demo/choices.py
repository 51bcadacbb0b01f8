"""What ``rollsafe demo`` offers: its faults, metric sources and routers.

Apart from the runner so that the CLI can name them in its help without loading
the demo (the controller, the web server, the metrics stack) at every start.
"""

from __future__ import annotations

FAULTS = ("none", "errors", "latency", "leak", "corrupt")
METRICS = ("scrape", "prometheus")
ROUTERS = ("none", "nginx")
