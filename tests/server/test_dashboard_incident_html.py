"""The dashboard serves the HTML incident report (docs/reports.md) to a viewer, under a
Content-Security-Policy that lets no script run, and links it from the rollout page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from rollsafe.cli import app as cli
from rollsafe.server import BackgroundServer
from tests.controller.rig import Rig
from tests.controller.test_html_incident_report import failed_rollout
from tests.server.servers import Tokens, bearer


@pytest.fixture
def rig(db: Path, tokens: Tokens) -> Iterator[Rig]:
    """Rollouts on fakes in the server's own store (``db``)."""
    del tokens
    rig = Rig(db.parent)
    try:
        yield rig
    finally:
        rig.close()


def test_the_html_report_is_served_to_viewers_without_scripts(
    server: BackgroundServer, tokens: Tokens, rig: Rig, db: Path
) -> None:
    rollout = failed_rollout(rig)
    with httpx.Client(base_url=server.url, timeout=5) as client:
        page = f"/ui/rollouts/{rollout.id}/incident.html"
        assert client.get(page, headers=bearer(tokens.client)).status_code == 404  # not yet
        written = CliRunner().invoke(
            cli, ["--home", str(db.parent), "report", "incident", rollout.id]
        )
        assert written.exit_code == 0, written.output

        answer = client.get(page, headers=bearer(tokens.client))
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/html")
        policy = answer.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src" not in policy
        assert answer.text.count('data-marker="decision"') == answer.text.count("<svg") > 0

        rollout_page = client.get(f"/ui/rollouts/{rollout.id}", headers=bearer(tokens.client))
        assert f'href="{page}"' in rollout_page.text
        # The Markdown's relative link to incident.html resolves to the same page.
        markdown = client.get(f"/ui/rollouts/{rollout.id}/incident", headers=bearer(tokens.client))
        assert "](incident.html)" in markdown.text
        assert str(httpx.URL(server.url + f"/ui/rollouts/{rollout.id}/incident").join(
            "incident.html")).endswith(page)  # fmt: skip

        anonymous = client.get(page)
        assert anonymous.status_code == 303
        assert "login" in anonymous.headers["location"]
