"""The HTML incident report (issue 13, item 3): a real rollout on rollsafe.testing's fakes
fails its analysis, and the report the controller path writes (cli/incidents.py) is one
self-contained HTML file with the dashboard's charts around the decision point, marked.

Process-free: the state machine, the judge, the rollback ladder and the journal are
the real ones over a real SQLite store (tests/controller/rig.py); only the target,
router and metric source are rollsafe.testing's fakes.
"""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from typer.testing import CliRunner

from rollsafe.charts import series, svg
from rollsafe.charts.series import plan_of
from rollsafe.cli import app as cli
from rollsafe.cli.incidents import write_incident_if_due
from rollsafe.journal import JournalEntry
from rollsafe.journal.kinds import Kind
from rollsafe.report import html_report, write_incident
from rollsafe.report.html import DECISION, pictures
from rollsafe.store import Rollout, RolloutState
from rollsafe.testing import ReplaySource
from rollsafe.typing import Observation
from tests.controller.rig import Rig

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def broken_canary(looks: int = 80) -> list[Observation]:
    """Both arms with latency histograms and memory; the canary fails 3% of requests and
    is slower, the baseline 1%: the judge needs several looks to decide."""
    data: list[Observation] = []
    for look in range(1, looks + 1):
        for arm, rate, fast_share in (("canary", 0.03, 0.6), ("baseline", 0.01, 0.9)):
            total = 400.0 * look
            data.append(
                {
                    "t": float(look),
                    "arm": arm,
                    "requests": total,
                    "errors": total * rate,
                    "latency_seconds_bucket": {
                        "0.1": total * fast_share,
                        "0.5": total,
                        "+Inf": total,
                    },
                    "memory_bytes": 64e6 + look * 1e5,
                }
            )
    return data


def failed_rollout(rig: Rig) -> Rollout:
    rig.source = ReplaySource(broken_canary())
    steps = ["canary", "analysis: {duration: 2s}", "deploy", "promote"]
    controller, rollout_id = rig.create(steps)
    rollout = controller.run(rollout_id)
    assert rollout.state is RolloutState.ROLLED_BACK, rollout.reason
    return rollout


class Page(HTMLParser):
    """What the tests look for in a page: tags, their attributes, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


def test_the_controllers_report_has_every_chart_marked_at_the_decision(rig: Rig) -> None:
    rollout = failed_rollout(rig)
    home = rig.root / "home"

    markdown = write_incident_if_due(home, rig.stores[-1], rollout)

    assert markdown is not None
    page_path = html_report(markdown)
    assert page_path == markdown.parent / "incident.html"
    assert page_path.is_file()
    text = page_path.read_text(encoding="utf-8")
    page = parse(text)
    charts = page.named("svg")
    # Per arm: error rate, latency, memory; per judged metric: e-value and effect.
    report = json.loads((markdown.parent / "incident.json").read_text(encoding="utf-8"))
    judged = set(report["trigger"]["evidence"])  # the metrics that decided
    assert judged
    assert len(charts) >= 3 + 2 * len(judged), [c.get("aria-label") for c in charts]
    titles = {c.get("aria-label") for c in charts}
    assert {"error rate per look", "latency p50 (dashed) and p99", "memory"} <= titles
    for name in judged:
        assert f"{name}: e-value (log)" in titles
    # One decision marker per chart, inside each <svg>.
    assert text.count("<svg") == len(charts)
    for chunk in text.split("<svg")[1:]:
        body = chunk.split("</svg>")[0]
        assert body.count(f'data-marker="{DECISION}"') == 1, body[:200]
    # Both arms drawn on the error-rate chart.
    series = {a.get("data-series") for a in page.named("polyline")}
    assert {"canary", "baseline", "canary p99", "baseline p50", "e-value"} <= series
    # Offline: no script, no stylesheet link, no image or anything fetched; the only
    # links are in-page anchors and the Markdown report beside it.
    assert not page.named("script")
    assert not page.named("link")
    assert not page.named("img")
    for _, attrs in page.tags:
        assert "src" not in attrs
        href = attrs.get("href")
        if href is not None:
            assert href.startswith("#") or href == "incident.md", href
    # The rollback levels with timings, the guards, the journal around the decision.
    words = " ".join(" ".join(page.text).split())
    assert "Rollback levels" in words
    assert "L1" in words
    assert "flags" in words
    assert "Guards" in words
    assert "no guard fired" in words
    assert Kind.ANALYSIS_VERDICT in words
    assert Kind.ROLLOUT_ROLLED_BACK in words
    assert [a for a in page.named("tr") if a.get("class") == "decision"]
    # The Markdown report links the page and each chart file, which exist and parse.
    md = markdown.read_text(encoding="utf-8")
    assert "[the HTML report](incident.html)" in md
    linked = [line.split("](")[1].rstrip(")") for line in md.splitlines() if line.startswith("![")]
    assert len(linked) == len(charts)
    # Private as the rest of the report (0600 files, 0700 directories).
    assert page_path.stat().st_mode & 0o777 == 0o600
    assert (markdown.parent / "charts").stat().st_mode & 0o777 == 0o700
    for relative in linked:
        assert (markdown.parent / relative).stat().st_mode & 0o777 == 0o600
        root = ET.parse(markdown.parent / relative).getroot()  # noqa: S314 - our own output
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert root.find("{http://www.w3.org/2000/svg}style") is not None


def test_journal_strings_render_inert(rig: Rig, tmp_path: Path) -> None:
    rollout = failed_rollout(rig)
    entries = rig.stores[-1].journal(rollout.id)
    evil = _poisoned(entries)

    markdown = write_incident(tmp_path / "report", evil)

    text = html_report(markdown).read_text(encoding="utf-8")
    page = parse(text)
    assert not page.named("script")
    assert not page.named("img")
    assert not [attrs for _, attrs in page.tags if any(k.startswith("on") for k in attrs)]
    words = " ".join(page.text)
    assert EVIL in words  # shown, as text: the service, the guard, the actors, the reason
    assert "&lt;script&gt;" in text
    # The guard that tripped is the decision now, still inside the analysis step: marked.
    assert text.count(f'data-marker="{DECISION}"') == text.count("<svg")


def test_chart_labels_are_escaped() -> None:
    chart = svg.Chart(EVIL, lines=[svg.Line(EVIL, [(0.0, 1.0), (1.0, 2.0)], "#000")])
    chart.markers.append((0.5, EVIL))
    chart.references.append((1.5, EVIL))

    drawn = svg.render(chart)

    root = ET.fromstring(drawn)  # noqa: S314 - well-formed: nothing broke out of an attribute
    assert "<script" not in drawn
    assert "<img" not in drawn
    assert EVIL in "".join(root.itertext())


def test_the_window_clips_to_the_decision() -> None:
    points = [(float(x), float(x)) for x in range(100)]
    chart = svg.Chart("t", lines=[svg.Line("a", points, "#000")], window=(40.0, 60.0))
    chart.markers.append((50.0, DECISION))

    drawn = svg.render(chart)

    polyline = ET.fromstring(drawn).find(  # noqa: S314 - our own output
        "{http://www.w3.org/2000/svg}polyline"
    )
    assert polyline is not None
    assert len(polyline.attrib["points"].split()) == 21
    assert ">40s<" in drawn
    assert ">60s<" in drawn


def test_report_json_gains_the_html_path(rig: Rig) -> None:
    rollout = failed_rollout(rig)

    result = CliRunner().invoke(
        cli, ["--home", str(rig.root), "report", "incident", rollout.id, "--json"]
    )

    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    page = Path(answer["html"])
    assert page == rig.root / "reports" / rollout.id / "incident.html"
    assert page.is_file()
    assert Path(answer["markdown"]).name == "incident.md"
    assert answer["outcome"] == "rolled_back"
    assert 'data-marker="decision"' in page.read_text(encoding="utf-8")


def _poisoned(entries: list[JournalEntry]) -> list[JournalEntry]:
    """The journal with hostile strings wherever a person or a plan names something, and a
    guard trip (named hostile) just before the analysis failed."""
    out: list[JournalEntry] = []
    for entry in entries:
        data = dict(entry.data)
        if entry.kind == Kind.ROLLOUT_CREATED:
            data["service"] = EVIL
        if entry.kind == Kind.ROLLOUT_ROLLED_BACK:
            data["reason"] = EVIL
        if entry.kind == Kind.STEP_FAILED:
            trip = {
                "guard": EVIL, "severity": "critical", "metric": EVIL, "value": 0.5,
                "threshold": 0.1, "unit": "ratio", "window": 10, "for": 0,
            }  # fmt: skip
            out.append(dataclasses.replace(entry, kind=Kind.GUARD_TRIPPED, data=trip, actor=EVIL))
            out.append(
                dataclasses.replace(
                    entry,
                    kind=Kind.FLAG_CHANGED,
                    data={"name": EVIL, "version": 2, "after": {"enabled": True}},
                    actor=EVIL,
                )
            )
        out.append(dataclasses.replace(entry, data=data, actor=EVIL))
    return out


def test_a_decision_after_the_analysis_shows_it_unmarked(rig: Rig) -> None:
    rollout = failed_rollout(rig)
    entries = rig.stores[-1].journal(rollout.id)
    plan = plan_of(rollout.plan_path, rollout.plan_text)
    view = series.analyses(entries, plan)[0]
    assert view.ended_at is not None
    # Journal times map onto the look drawn at or before them, and only inside the step.
    first_look, first_x = view.look_times[0]
    assert view.x_at(first_look) == first_x
    assert view.x_at(view.started_at - 1) is None
    assert view.x_at(view.ended_at + 1) is None
    assert view.x_at(view.ended_at) == view.look_times[-1][1]

    inside, _ = pictures(entries, plan, view.ended_at)
    later, note = pictures(entries, plan, view.ended_at + 30)

    assert all(f'data-marker="{DECISION}"' in p.svg for p in inside if p.svg.startswith("<svg"))
    assert [p.title for p in later] == [p.title for p in inside]
    assert not [p for p in later if "data-marker" in p.svg]
    assert "outside every analysis step" in note
    assert "30.0 s earlier" in note
