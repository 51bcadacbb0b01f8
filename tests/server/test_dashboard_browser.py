"""The dashboard in a real browser: Debian's Chromium driven by Playwright (PyPI), against a
real server on loopback, while the real controller drives rollouts on rollsafe.testing's
fakes in the server's own store.

It checks what a person sees: the sign-in wall, each new step appearing without a
reload, charts drawn for both arms, the approve button letting a waiting rollout go
on, the abort button rolling back with its levels shown, and the kill switch
turning a flag off for a streaming SDK client within a second. The rollout page's
screenshot is saved in the test's folder (``rollout.png``) for a person to look at.

Chromium comes from scripts/install-servers.sh (``make test`` runs it); without it
these tests skip, saying why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rollsafe.flags import rollout_feature
from rollsafe.sdk import FlagClient
from rollsafe.server import BackgroundServer
from rollsafe.store import RolloutState
from rollsafe.testing import ReplaySource
from tests.controller.rig import Rig
from tests.server.servers import Tokens, bearer
from tests.server.test_dashboard_http import looks_with_latency

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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def rig(db: Path, tokens: Tokens) -> Iterator[Rig]:
    del tokens
    rig = Rig(db.parent)
    try:
        yield rig
    finally:
        rig.close()


@pytest.fixture
def page(browser: Any, server: BackgroundServer) -> Iterator[Any]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1400, "height": 1800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        context.close()


def sign_in(page: Any, token: str, then: str) -> None:
    page.goto(then)
    assert "/ui/login" in page.url  # the page itself is refused without a token
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{then}")


def drive(rig: Rig, rollout_id: str) -> threading.Thread:
    thread = threading.Thread(target=rig.controller().run, args=(rollout_id,), daemon=True)
    thread.start()
    return thread


def step_state(page: Any, index: int) -> Any:
    return page.locator(f"#steps tbody tr:nth-child({index + 1}) .state")


def test_the_rollout_page_follows_each_step_live_and_the_approve_button_lets_it_go_on(
    page: Any, rig: Rig, tokens: Tokens, tmp_path: Path
) -> None:
    rig.source = ReplaySource(looks_with_latency(15))
    steps = [
        "deploy",
        "pause: {duration: 400ms}",
        "flag",
        "analysis: {duration: 300ms}",
        'approve: {message: "go to 100%?"}',
        "pause: {duration: 300ms}",
        "promote",
    ]
    _, rollout_id = rig.create(steps)
    store = rig.stores[-1]
    sign_in(page, tokens.admin, f"/ui/rollouts/{rollout_id}")
    page.evaluate("window.notReloaded = true")
    thread = drive(rig, rollout_id)

    # Each step, once the store says it succeeded, is shown so within 2 s, with no reload.
    for index in range(4):
        deadline = time.monotonic() + 10
        while store.steps(rollout_id)[index].ended_at is None:
            assert time.monotonic() < deadline, f"step {index} never ended"
            time.sleep(0.01)
        sync_api.expect(step_state(page, index)).to_have_text(
            "succeeded", timeout=STEP_SHOWN_WITHIN * 1000
        )
    banner = page.locator("#approval")
    sync_api.expect(banner).to_contain_text("go to 100%?", timeout=STEP_SHOWN_WITHIN * 1000)
    # Charts drawn in the page, with a line for each arm.
    for arm in ("baseline", "canary"):
        assert page.locator(f'svg.chart polyline[data-series="{arm}"]').count() >= 2
    assert page.locator('svg.chart polyline[data-series="e-value"]').count() >= 1
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=str(tmp_path / "rollout.png"), full_page=True)

    time.sleep(0.5)  # nobody approved: still waiting
    assert store.get_rollout(rollout_id).step_index == 4
    assert rig.step_states(rollout_id)[4] == "running"
    page.click('button[data-action="approve"]')
    sync_api.expect(page.locator("h1 .state")).to_have_text("promoted", timeout=10_000)
    thread.join(10)
    assert store.get_rollout(rollout_id).state is RolloutState.PROMOTED
    assert store.steps(rollout_id)[4].result["approved_by"] == "token ops"


def test_the_page_updates_without_a_reload(page: Any, rig: Rig, tokens: Tokens) -> None:
    _, rollout_id = rig.create(["deploy", "pause: {duration: 300ms}", "promote"])
    sign_in(page, tokens.client, f"/ui/rollouts/{rollout_id}")
    page.evaluate("window.notReloaded = true")
    assert page.locator('button[data-action="abort"]').count() == 0  # a read token: no buttons
    thread = drive(rig, rollout_id)
    sync_api.expect(page.locator("h1 .state")).to_have_text("promoted", timeout=10_000)
    thread.join(10)
    assert page.evaluate("window.notReloaded") is True


def test_the_abort_button_rolls_back_and_the_page_shows_the_levels(
    page: Any, rig: Rig, tokens: Tokens
) -> None:
    _, rollout_id = rig.create(["deploy", "flag", "approve: {}", "promote"])
    store = rig.stores[-1]
    sign_in(page, tokens.admin, f"/ui/rollouts/{rollout_id}")
    thread = drive(rig, rollout_id)
    sync_api.expect(page.locator("#approval")).to_be_visible()
    page.on("dialog", lambda dialog: dialog.accept())
    page.click('button[data-action="abort"]')
    sync_api.expect(page.locator("h1 .state")).to_have_text("aborted", timeout=10_000)
    thread.join(10)
    sync_api.expect(page.locator("#levels")).to_contain_text("flags")
    assert store.get_rollout(rollout_id).state is RolloutState.ABORTED
    requested = [e for e in store.journal(rollout_id) if e.kind == "rollout.abort_requested"]
    assert [e.actor for e in requested] == ["token ops"]


def test_the_kill_switch_reaches_a_streaming_sdk_client_within_a_second(
    page: Any, server: BackgroundServer, tokens: Tokens, rig: Rig
) -> None:
    rig.controller().store.put_flag("checkout", rollout_feature("checkout", 100), actor="test")
    # The server sees store writes by polling: start the client once it serves the flag,
    # or its first sync may come before the flag does.
    deadline = time.monotonic() + 10
    while (
        "checkout"
        not in httpx.get(f"{server.url}/api/client/features", headers=bearer(tokens.client)).text
    ):
        assert time.monotonic() < deadline, "the server never served the new flag"
        time.sleep(0.05)
    heard: list[float] = []
    with FlagClient(server.url, tokens.client) as flags:
        assert flags.wait_until_ready(5)
        assert flags.is_enabled("checkout", {"userId": "u1"})
        flags.add_listener(lambda change: heard.append(time.monotonic()))
        sign_in(page, tokens.admin, "/ui/flags")
        page.on("dialog", lambda dialog: dialog.accept())
        clicked = time.monotonic()
        page.click('button[data-action="kill"]')
        deadline = clicked + 1.0
        while flags.is_enabled("checkout", {"userId": "u1"}) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert not flags.is_enabled("checkout", {"userId": "u1"})
        assert heard
        assert heard[-1] - clicked < 1.0
    sync_api.expect(page.locator("table")).to_contain_text("off")


def test_without_a_token_the_browser_sees_only_the_sign_in_form(
    page: Any, rig: Rig, tokens: Tokens
) -> None:
    _, rollout_id = rig.create(["deploy", "promote"])
    page.goto(f"/ui/rollouts/{rollout_id}")
    assert "/ui/login" in page.url
    assert page.locator("#steps").count() == 0
    assert "deploy" not in page.content()  # nothing of the rollout is shown
    page.fill("input[name=token]", "rs_000000.not-a-token")
    page.click("button[type=submit]")
    sync_api.expect(page.locator(".error")).to_contain_text("invalid or revoked token")
    del tokens
