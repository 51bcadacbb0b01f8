"""A three-stage pipeline (dev → staging → production) over command targets.

Each stage deploys with a real command into its own state directory and has its
own home (its own SQLite store); the pipeline's own journal is in another home.
A release is "broken" when ``releases/<release>/broken`` exists: staging's smoke
test (a command gate) finds it, dev has no such gate.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rollsafe.config.pipeline import load_pipeline
from rollsafe.controller.pipeline import PipelineRunner
from rollsafe.store import Store, open_store_url

PLAN = """\
version: 1
service: shop
target:
  type: command
  deploy:
    - ["sh", "-c", "test ! -e releases/{{release}}/undeployable"]
    - ["sh", "-c", "echo {{release}} >> {{state_dir}}/deploys.log"]
  endpoints: ["{endpoint}"]
  health: {{timeout: 500ms, interval: 100ms, retries: 2}}
  cwd: .
  state_dir: state
rollback:
  levels: [flags, release]
  verify: {{for: 500ms, interval: 100ms}}
steps:
  - deploy: {{release: "0"}}
  - promote:
"""

PIPELINE = """\
version: 1
name: shop
stages:
  - name: dev
    plan: plan.yaml
    overrides: {{target: {{state_dir: dev-state}}}}
    soak: {dev_soak}
  - name: staging
    plan: plan.yaml
    overrides:
      target: {{state_dir: staging-state}}
      steps: [{{deploy: {{release: "0"}}}}, {{pause: {{duration: {staging_pause}}}}}, {{promote: }}]
    gates:
      - command: {{command: ["sh", "-c", "test ! -e releases/$ROLLSAFE_RELEASE/broken"]}}
  - name: production
    plan: plan.yaml
    overrides: {{target: {{state_dir: production-state}}}}
    store: {production_store}
"""


@dataclass
class PipelineRig:
    root: Path

    @property
    def file(self) -> Path:
        return self.root / "pipeline.yaml"

    @property
    def home(self) -> Path:
        return self.root / "pipeline-home"

    def write(
        self, endpoint: str, *, dev_soak: str = "0s", staging_pause: str = "0s", **extra: Any
    ) -> None:
        (self.root / "plan.yaml").write_text(PLAN.format(endpoint=endpoint))
        for stage in ("dev", "staging", "production"):
            (self.root / f"{stage}-state").mkdir(exist_ok=True)
        self.file.write_text(
            PIPELINE.format(
                dev_soak=dev_soak,
                staging_pause=staging_pause,
                production_store=self.root / "production.db",
            )
            + "".join(extra.get("more", ""))
        )

    def break_release(self, release: str, how: str = "broken") -> None:
        """``broken``: staging's smoke test fails it; ``undeployable``: its deploy fails."""
        (self.root / "releases" / release).mkdir(parents=True)
        (self.root / "releases" / release / how).touch()

    def store(self) -> Store:
        self.home.mkdir(exist_ok=True)
        return open_store_url(str(self.home / "rollsafe.db"))

    def runner(self, store: Store, release: str) -> PipelineRunner:
        pipeline, plans = load_pipeline(self.file, release=release)
        return PipelineRunner(pipeline, self.file, plans, store)

    def run(self, release: str) -> dict[str, Any]:
        store = self.store()
        try:
            return self.runner(store, release).run()
        finally:
            store.close()

    def live(self, stage: str) -> str | None:
        """The release the stage's command target last deployed."""
        log = self.root / f"{stage}-state" / "deploys.log"
        lines = log.read_text().split() if log.exists() else []
        return lines[-1] if lines else None

    def cli(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "rollsafe", "--home", str(self.home), "pipeline", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
