"""``/ui``: the dashboard, server-rendered HTML over the same store and tokens as the API.

Pages: rollouts (filtered by state and service, paginated), one rollout (steps,
charts, judge evidence, guards, rollback levels, journal tail; live over SSE),
flags (state, rollout percentage, history, kill switch) and the journal's
verification. Actions (pause, resume, abort, approve, kill) are POSTs checked
for an admin token and a CSRF token (`session`), carried out by
`rollsafe.server.actions` and journaled with the token's actor.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.responses import StreamingResponse

from rollsafe.errors import ConflictError, NotFoundError, RollsafeError
from rollsafe.server import actions
from rollsafe.server.errors import ApiError
from rollsafe.server.service import get_service
from rollsafe.server.ui import session, views
from rollsafe.server.ui.layout import LIVE_JS, esc, page
from rollsafe.server.ui.session import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    Viewer,
)
from rollsafe.store.records import DEFAULT_ENVIRONMENT

router = APIRouter(prefix="/ui", include_in_schema=False)

LIVE_POLL = 0.25
"""Seconds between the live stream's looks at the journal."""
LIST_POLL = 2.0
"""Seconds between re-renders of a live rollouts table (it reads up to 10,000 rows)."""
LIVE_FOR = 25.0
"""Seconds one live stream lasts; the browser reconnects at once (and gets the page anew),
so a server shutting down never waits on a stream."""


def _login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/login?next={urllib.parse.quote(target)}", status_code=303)


def _page_viewer(request: Request) -> Viewer | Response:
    try:
        return session.viewer(request)
    except ApiError:
        return _login_redirect(request)


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (small: the app bounds bodies to 1 MiB)."""
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[0] for k, v in urllib.parse.parse_qs(body, keep_blank_values=True).items()}


def _refused(error: Exception, status: int) -> HTMLResponse:
    return HTMLResponse(
        page("Refused", f'<div class="error">{esc(error)}</div>', None), status_code=status
    )


@router.get("", response_class=RedirectResponse)
def home() -> Response:
    return RedirectResponse("/ui/rollouts", status_code=303)


@router.get("/static/live.js")
def live_js() -> Response:
    return Response(LIVE_JS, media_type="text/javascript", headers={"Cache-Control": "max-age=300"})


@router.get("/login", response_class=HTMLResponse)
def login_form(next: str = "/ui/rollouts", error: str = "") -> HTMLResponse:
    problem = f'<div class="error">{esc(error)}</div>' if error else ""
    body = (
        f"<h1>Sign in</h1>{problem}"
        '<form method="post" action="/ui/login">'
        f'<input type="hidden" name="next" value="{esc(next)}">'
        '<p><label>API token <input type="password" name="token" size="60" autofocus '
        'autocomplete="off"></label></p><p><button type="submit">sign in</button></p>'
        '<p class="muted">A client (read) token views; an admin token also acts. '
        "Create one with <code>rollsafe server token create</code>.</p></form>"
    )
    return HTMLResponse(page("Sign in", body, None))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    token = form.get("token", "").strip()
    target = form.get("next", "/ui/rollouts")
    if not target.startswith("/ui/") or target.startswith("//"):
        target = "/ui/rollouts"  # never redirect off the dashboard
    record = get_service(request).auth.verify(token) if token else None
    if record is None:
        query = urllib.parse.urlencode({"next": target, "error": "invalid or revoked token"})
        return RedirectResponse(f"/ui/login?{query}", status_code=303)
    response = RedirectResponse(target, status_code=303)
    secure = request.url.scheme == "https"
    for name, value in ((SESSION_COOKIE, token), (CSRF_COOKIE, session.new_csrf())):
        response.set_cookie(
            name,
            value,
            max_age=session.SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/ui",
        )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await _form(request)
    try:
        session.actor_for_signout(request, form.get(CSRF_FIELD))
    except ApiError as error:
        return _refused(error, 403)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/ui")
    response.delete_cookie(CSRF_COOKIE, path="/ui")
    return response


@router.get("/rollouts", response_class=HTMLResponse)
def rollouts(
    request: Request,
    state: str = "",
    service: str = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    seen = _page_viewer(request)
    if isinstance(seen, Response):
        return seen
    store = get_service(request).reader
    listed = store.list_rollouts(limit=views.MAX_LISTED)
    body = views.rollouts_table(listed, state=state, service=service, page=page_number, viewer=seen)
    query = f"?{request.url.query}" if request.url.query else ""
    return HTMLResponse(page("Rollouts", body, seen, live=f"/ui/rollouts/events{query}"))


@router.get("/rollouts/events")
async def rollouts_events(
    request: Request,
    state: str = "",
    service: str = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    """Server-sent events: the rollouts table again whenever it changes (checked every 2 s)."""

    def render(seen: Viewer) -> str:
        listed = get_service(request).reader.list_rollouts(limit=views.MAX_LISTED)
        return views.rollouts_table(
            listed, state=state, service=service, page=page_number, viewer=seen
        )

    return _changes(request, render, LIST_POLL)


@router.get("/rollouts/{rollout_id}", response_class=HTMLResponse)
def rollout(request: Request, rollout_id: str, note: str = "", error: str = "") -> Response:
    seen = _page_viewer(request)
    if isinstance(seen, Response):
        return seen
    message = ""
    if note:
        message = f'<div class="note">{esc(note)}</div>'
    if error:
        message = f'<div class="error">{esc(error)}</div>'
    try:
        body = views.rollout_body(get_service(request).reader, rollout_id, seen, message)
    except NotFoundError as missing:
        return _refused(missing, 404)
    return HTMLResponse(
        page(f"Rollout {rollout_id}", body, seen, live=f"/ui/rollouts/{rollout_id}/events")
    )


@router.get("/rollouts/{rollout_id}/events")
async def rollout_events(request: Request, rollout_id: str) -> Response:
    """Server-sent events: the rollout's body again each time its journal grows."""
    try:
        seen = session.viewer(request)
    except ApiError:
        return PlainTextResponse("sign in first", status_code=401)
    store = get_service(request).reader
    try:
        await run_in_threadpool(store.get_rollout, rollout_id)
    except NotFoundError as missing:
        return PlainTextResponse(str(missing), status_code=404)

    async def stream() -> AsyncIterator[str]:
        last = int(request.headers.get("last-event-id", "0") or 0)
        ends = time.monotonic() + LIVE_FOR
        yield "retry: 500\n\n"
        while time.monotonic() < ends:
            if await request.is_disconnected():
                return
            if session.still_valid(request) is False:
                yield "event: signed-out\ndata: \n\n"
                return
            new = await run_in_threadpool(store.journal, rollout_id, last)
            if new:
                last = new[-1].seq
                body = await run_in_threadpool(views.rollout_body, store, rollout_id, seen)
                data = "".join(f"data: {line}\n" for line in body.splitlines() or [""])
                yield f"event: update\nid: {last}\n{data}\n"
            await asyncio.sleep(LIVE_POLL)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post("/rollouts/{rollout_id}/{action}")
async def rollout_action(request: Request, rollout_id: str, action: str) -> Response:
    form = await _form(request)
    try:
        seen = session.rollout_actor_for(request, form.get(CSRF_FIELD))
    except ApiError as error:
        if error.status == 401:
            return PlainTextResponse(str(error), status_code=401)
        return _refused(error, 403)
    if action not in actions.ROLLOUT_ACTIONS:
        return _refused(ValueError(f"no action {action!r}"), 404)
    store = get_service(request).store
    try:
        said = await run_in_threadpool(
            actions.act,
            store,
            rollout_id,
            action,
            actor=seen.actor,
            comment=form.get("comment", ""),
        )
        query = urllib.parse.urlencode({"note": said})
    except NotFoundError as missing:
        return _refused(missing, 404)
    except (ConflictError, RollsafeError) as refused:
        query = urllib.parse.urlencode({"error": str(refused)})
    return RedirectResponse(f"/ui/rollouts/{rollout_id}?{query}", status_code=303)


@router.get("/rollouts/{rollout_id}/incident", response_class=PlainTextResponse)
def incident(request: Request, rollout_id: str) -> Response:
    seen = _page_viewer(request)
    if isinstance(seen, Response):
        return seen
    path = views.incident_path(get_service(request).reader, rollout_id)
    if path is None:
        return PlainTextResponse(f"no incident report for {rollout_id}", status_code=404)
    return PlainTextResponse(path.read_text(encoding="utf-8"), media_type="text/markdown")


REPORT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
"""The HTML incident report needs nothing but its inline CSS: no script may run in it,
even if an escaping bug let one through (it holds journal strings)."""


@router.get("/rollouts/{rollout_id}/incident.html", response_class=HTMLResponse)
def incident_page(request: Request, rollout_id: str) -> Response:
    """The HTML incident report the CLI or controller wrote (see docs/reports.md); the
    Markdown report's relative link to ``incident.html`` lands here."""
    seen = _page_viewer(request)
    if isinstance(seen, Response):
        return seen
    path = views.incident_path(get_service(request).reader, rollout_id)
    page = path.with_name("incident.html") if path is not None else None
    if page is None or not page.is_file():
        return PlainTextResponse(f"no HTML incident report for {rollout_id}", status_code=404)
    return HTMLResponse(
        page.read_text(encoding="utf-8"), headers={"Content-Security-Policy": REPORT_POLICY}
    )


def _environment(seen: Viewer) -> str:
    bound = seen.caller.token.environment
    return DEFAULT_ENVIRONMENT if bound == "*" else bound


@router.get("/flags", response_class=HTMLResponse)
def flags(request: Request) -> Response:
    seen = _page_viewer(request)
    if isinstance(seen, Response):
        return seen
    body = views.flags_body(get_service(request).reader, _environment(seen), seen)
    return HTMLResponse(page("Flags", body, seen, live="/ui/flags/events"))


@router.get("/flags/events")
async def flags_events(request: Request) -> Response:
    """Server-sent events: the flags table again whenever it changes."""

    def render(seen: Viewer) -> str:
        return views.flags_body(get_service(request).reader, _environment(seen), seen)

    return _changes(request, render, LIVE_POLL)


def _changes(request: Request, render: Callable[[Viewer], str], poll: float) -> Response:
    """A live stream of ``render``'s HTML, sent each time it differs from the last sent."""
    try:
        seen = session.viewer(request)
    except ApiError:
        return PlainTextResponse("sign in first", status_code=401)

    async def stream() -> AsyncIterator[str]:
        sent = ""
        ends = time.monotonic() + LIVE_FOR
        yield "retry: 500\n\n"
        number = 0
        while time.monotonic() < ends:
            if await request.is_disconnected():
                return
            if not session.still_valid(request):
                yield "event: signed-out\ndata: \n\n"
                return
            body = await run_in_threadpool(render, seen)
            if body != sent:
                if sent:  # the page was rendered with the first; send what changed since
                    number += 1
                    data = "".join(f"data: {line}\n" for line in body.splitlines() or [""])
                    yield f"event: update\nid: {number}\n{data}\n"
                sent = body
            await asyncio.sleep(poll)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/flags/{name}", response_class=HTMLResponse)
def flag(request: Request, name: str) -> Response:
    seen = _page_viewer(request)
    if isinstance(seen, Response):
        return seen
    entries = get_service(request).reader.journal()
    body = views.flag_history(entries, name, _environment(seen))
    return HTMLResponse(page(f"Flag {name}", body, seen))


@router.post("/flags/{name}/kill")
async def kill(request: Request, name: str) -> Response:
    form = await _form(request)
    try:
        seen = session.actor_for(request, form.get(CSRF_FIELD))
    except ApiError as error:
        if error.status == 401:
            return PlainTextResponse(str(error), status_code=401)
        return _refused(error, 403)
    service = get_service(request)
    try:
        _, changed = await run_in_threadpool(
            actions.kill_flag, service.store, name, _environment(seen), actor=seen.actor
        )
    except NotFoundError as missing:
        return _refused(missing, 404)
    except ConflictError as conflict:
        return _refused(conflict, 409)
    if changed:
        service.feed.poll_now()
    return RedirectResponse("/ui/flags", status_code=303)


@router.get("/journal", response_class=HTMLResponse)
def journal(request: Request) -> Response:
    seen = _page_viewer(request)
    if isinstance(seen, Response):
        return seen
    return HTMLResponse(page("Journal", views.journal_body(get_service(request).reader), seen))
