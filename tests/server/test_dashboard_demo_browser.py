"""The dashboard in a real Chromium while a real demo rollout runs (issue 13's "Done when").

Everything but the browser's user is real: `run_demo` starts the sample shop's
two instances (release 1.0.0), drives ~100 requests/s at them, scrapes their
``/metrics`` and runs the demo's plan through the real controller; a separate
``rollsafe server`` process serves ``/ui`` over the demo's own store; Debian's
Chromium, driven by Playwright, signs in and watches. The plan is the bundled
demo plan (same target, metrics, guards and rollback policy) with shorter steps
and an ``approve`` gate, written over the demo's plan file just before the
rollout is created (``before_rollout``), so the whole file takes ~30-45 s.

One rollout, in order, checks what an operator sees:

1. each step, once the store says it ended, shows as succeeded within 2 s, with
   no reload (an SSE swap);
2. the analysis charts are drawn with data for both arms (``baseline`` and ``canary``);
3. the approve gate waits (the controller does not move) until the Approve
   button is clicked, then the rollout goes on to the next steps;
4. without a token, the page, its live stream and the actions are refused, and
   a read token gets the page without any button;
5. Abort on the running rollout rolls it back on the real shop, and the page
   shows the rollback levels with their timings.

Screenshots are saved in the test's folder: the whole page at the approval gate
(``rollout-approval.png``) and after the rollback (``rollout.png``), and the first
screenful at the gate (``rollout-top.png``, of which docs/img/dashboard-rollout.png
is a copy, taken by hand: a test writes nothing in the repository).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from rollsafe.demo.runner import DemoResult, run_demo
from rollsafe.journal.kinds import Kind
from rollsafe.store import DATABASE_FILE, RolloutState
from rollsafe.store.sqlite import SqliteStore
from tests.demo.workdirs import processes_of
from tests.server.servers import ServerProcess, Tokens, add_tokens, bearer

CHROMIUM = Path("/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed (scripts/install-servers.sh installs it)",
    ),
]

STEP_SHOWN_WITHIN = 2.0
APPROVAL = "Send everyone to 1.1.0's fast checkout?"
STEPS: list[dict[str, Any]] = [
    {"backup": None},
    {"deploy": {"release": "1.1.0"}},
    {"flag": {"name": "fast-checkout", "rollout": 50}},
    {"analysis": {"duration": "5s"}},
    {"approve": {"message": APPROVAL}},
    {"flag": {"name": "fast-checkout", "rollout": 100}},
    {"analysis": {"duration": "90s", "mode": "health"}},  # aborted in the middle
    {"promote": None},
]
APPROVE_AT = 4
ABORT_AT = 6


def short_demo_plan() -> str:
    """The bundled demo plan with the steps above and a 1 s rollback verification."""
    plan = yaml.safe_load(resources.files("rollsafe.demo").joinpath("plan.yaml").read_text())
    plan["steps"] = STEPS
    plan["rollback"]["verify"]["for"] = "1s"
    return str(yaml.safe_dump(plan, sort_keys=False))


@dataclass
class Demo:
    """A demo rollout running in a thread, with ``rollsafe server`` over its store."""

    workdir: Path
    ready: threading.Event = field(default_factory=threading.Event)
    server: ServerProcess | None = None
    tokens: Tokens | None = None
    result: DemoResult | None = None
    error: BaseException | None = None
    thread: threading.Thread | None = None
    stores: list[SqliteStore] = field(default_factory=list)

    @property
    def db(self) -> Path:
        return self.workdir / "home" / DATABASE_FILE

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="demo", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = run_demo(self.workdir, before_rollout=self._before_rollout)
        except BaseException as error:  # reported by the test, not lost in the thread
            self.error = error
        finally:
            self.ready.set()

    def _before_rollout(self) -> None:
        """The shop is up under load: shorten the plan, start the dashboard, make tokens."""
        (self.workdir / "plan.yaml").write_text(short_demo_plan())
        store = SqliteStore(self.db)
        try:
            self.tokens = add_tokens(store)
        finally:
            store.close()
        self.server = ServerProcess(self.workdir / "home", log=self.workdir / "server.log")
        self.server.start()
        self.ready.set()

    def store(self) -> SqliteStore:
        store = SqliteStore(self.db)
        self.stores.append(store)
        return store

    def rollout_id(self, timeout: float = 20) -> str:
        store = self.store()
        deadline = time.monotonic() + timeout
        while not (rollouts := store.list_rollouts()):
            assert time.monotonic() < deadline, "the demo created no rollout"
            assert self.error is None, self.error
            time.sleep(0.02)
        return rollouts[0].id

    def stop(self) -> None:
        """Whatever happened, the rollout ends (an abort) and every process stops."""
        if self.thread is not None and self.thread.is_alive() and self.db.exists():
            store = self.store()
            for rollout in store.list_rollouts():
                if not rollout.state.is_final and rollout.requested != "abort":
                    store.request(rollout.id, "abort", actor="test teardown", reason="test ended")
        if self.thread is not None:
            self.thread.join(60)
        if self.server is not None:
            self.server.kill()
        for store in self.stores:
            store.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    demo = Demo(tmp_path / "demo")
    demo.start()
    try:
        yield demo
    finally:
        demo.stop()
    assert processes_of(demo.workdir) == []  # shops and server all stopped


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


def step_state(page: Any, index: int) -> Any:
    return page.locator(f"#steps tbody tr:nth-child({index + 1}) .state")


def wait_for_step_end(store: SqliteStore, rollout_id: str, index: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while store.steps(rollout_id)[index].ended_at is None:
        assert time.monotonic() < deadline, f"step {index} never ended: {store.steps(rollout_id)}"
        time.sleep(0.02)


def test_an_operator_follows_approves_and_aborts_a_running_demo_rollout(
    demo: Demo, browser: Any, tmp_path: Path
) -> None:
    assert demo.ready.wait(60), "the demo never got to its rollout"
    assert demo.error is None, demo.error
    assert demo.server is not None
    assert demo.tokens is not None
    server, tokens = demo.server, demo.tokens
    rollout_id = demo.rollout_id()
    store = demo.store()
    url = f"/ui/rollouts/{rollout_id}"

    context = browser.new_context(base_url=server.url, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(url)
    assert "/ui/login" in page.url  # the page itself is refused without a token
    page.fill("input[name=token]", tokens.admin)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{url}")
    page.evaluate("window.notReloaded = true")

    # 1. Each step that ends is shown so within 2 s, without a reload.
    for index in range(APPROVE_AT):
        wait_for_step_end(store, rollout_id, index, timeout=30)
        sync_api.expect(step_state(page, index)).to_have_text(
            "succeeded", timeout=STEP_SHOWN_WITHIN * 1000
        )

    # 3. The approve gate waits, its banner and button shown.
    sync_api.expect(page.locator("#approval")).to_contain_text(
        APPROVAL, timeout=STEP_SHOWN_WITHIN * 1000
    )
    sync_api.expect(step_state(page, APPROVE_AT)).to_have_text("running")
    # 2. The analysis charts are drawn with data for both arms of the real shop.
    analysis = page.locator(f'section.analysis[data-step="{APPROVE_AT - 1}"]')
    sync_api.expect(analysis).to_contain_text("verdict pass")
    for arm in ("baseline", "canary"):  # the demo's old and new checkout paths
        lines = analysis.locator(f'svg.chart polyline[data-series="{arm}"]')
        assert lines.count() >= 2, f"no chart line for {arm}"
        points = lines.first.get_attribute("points") or ""
        assert len(points.split()) >= 3, f"{arm}'s line has too few points: {points!r}"
    page.screenshot(path=str(tmp_path / "rollout-approval.png"), full_page=True)
    page.screenshot(path=str(tmp_path / "rollout-top.png"))  # what a screen shows first
    time.sleep(1.0)  # nobody approved: the controller waits
    assert store.get_rollout(rollout_id).step_index == APPROVE_AT
    assert store.steps(rollout_id)[APPROVE_AT].ended_at is None

    assert page.evaluate("window.notReloaded") is True  # steps 0-3 all came over SSE
    with page.expect_navigation():  # a form POST: the page loads anew
        page.click('button[data-action="approve"]')
    page.evaluate("window.notReloaded = true")
    for index in (APPROVE_AT, APPROVE_AT + 1):
        wait_for_step_end(store, rollout_id, index, timeout=10)
        sync_api.expect(step_state(page, index)).to_have_text(
            "succeeded", timeout=STEP_SHOWN_WITHIN * 1000
        )
    assert store.steps(rollout_id)[APPROVE_AT].result["approved_by"] == "token ops"
    sync_api.expect(page.locator("#approval")).to_have_count(0)
    sync_api.expect(step_state(page, ABORT_AT)).to_have_text("running")
    assert store.get_flag("fast-checkout").definition["enabled"] is True

    # 4. Without a token: page, live stream and actions refused; a read token sees no button.
    stranger = browser.new_context(base_url=server.url)
    try:
        other = stranger.new_page()
        other.goto(url)
        assert "/ui/login" in other.url
        assert other.locator("#steps").count() == 0
        assert "fast-checkout" not in other.content()  # nothing of the rollout is shown
    finally:
        stranger.close()
    with httpx.Client(base_url=server.url, timeout=5) as anonymous:
        assert anonymous.get(f"{url}/events").status_code == 401
        assert anonymous.post(f"{url}/abort").status_code == 401
        assert anonymous.post(f"{url}/abort", headers=bearer(tokens.client)).status_code == 403
        read = anonymous.get(url, headers=bearer(tokens.client))
        assert read.status_code == 200
        assert 'id="steps"' in read.text
        assert "data-action=" not in read.text
    assert store.get_rollout(rollout_id).requested is None  # nothing refused changed a thing

    # 5. Abort on the running rollout: rolled back on the real shop, levels on the page.
    page.on("dialog", lambda dialog: dialog.accept())
    assert page.evaluate("window.notReloaded") is True
    with page.expect_navigation():
        page.click('button[data-action="abort"]')
    assert "abort+requested" in page.url
    page.evaluate("window.notReloaded = true")
    sync_api.expect(page.locator("h1 .state")).to_have_text("aborted", timeout=30_000)
    levels = page.locator("#levels")
    sync_api.expect(levels).to_contain_text("flags")
    sync_api.expect(levels).to_contain_text("release")
    aborted = page.locator(f'section.analysis[data-step="{ABORT_AT}"]')
    sync_api.expect(aborted).to_contain_text("no verdict: interrupted by abort")
    assert page.evaluate("window.notReloaded") is True  # the rollback came over SSE
    page.screenshot(path=str(tmp_path / "rollout.png"), full_page=True)
    rows = [row.split("\t") for row in levels.locator("tbody tr").all_inner_texts()]
    context.close()

    assert demo.thread is not None
    demo.thread.join(30)
    assert demo.error is None, demo.error
    assert demo.result is not None
    assert demo.result.outcome == "rolled_back", demo.result.timeline
    assert store.get_rollout(rollout_id).state is RolloutState.ABORTED
    requested = [e for e in store.journal(rollout_id) if e.kind == Kind.ROLLOUT_ABORT_REQUESTED]
    assert [e.actor for e in requested] == ["token ops"]
    assert store.get_flag("fast-checkout").definition["enabled"] is False
    # The page's levels are the journal's, each with its action and verification times.
    ended = [e.data for e in store.journal(rollout_id) if e.kind == Kind.ROLLBACK_LEVEL_ENDED]
    assert [(row[0], row[1]) for row in rows] == [(str(d["level"]), d["name"]) for d in ended]
    for row, data in zip(rows, ended, strict=True):
        assert row[4] == f"{data['action_seconds']:.2f}s"
        assert row[5] == f"{data['seconds']:.2f}s"
