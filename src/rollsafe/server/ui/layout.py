"""The dashboard's HTML: one page shell, escaped by default, plus the small pieces pages share.

Pages are built from Python strings, not templates: every value goes through
`esc` (``html.escape`` with quotes), and a page is a handful of tables, so a
template engine would add a dependency and an indirection for nothing. The only
script is ``/ui/static/live.js`` (our own, a few lines): it opens an
EventSource and swaps in the HTML the server sends.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rollsafe.charts import svg
from rollsafe.server.ui.session import CSRF_FIELD, Viewer

STYLE = (Path(__file__).parent / "dashboard.css").read_text(encoding="utf-8") + svg.CSS
"""The dashboard's rules, and the charts' (shared with the HTML incident report)."""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def when(ts: float | None) -> str:
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + "Z"


def badge(state: Any) -> str:
    text = str(state)
    return f'<span class="state {esc(text.replace(" ", "-"))}">{esc(text)}</span>'


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], *, raw: bool = True) -> str:
    """A table whose cells are HTML already (``raw``) or text to escape."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if raw else esc(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def action_form(viewer: Viewer, url: str, label: str, *, css: str = "", confirm: str = "") -> str:
    """A POST button carrying the session's CSRF token (shown to admin viewers only)."""
    if not viewer.is_admin:
        return ""
    check = f' onsubmit="return confirm({esc(repr(confirm))})"' if confirm else ""
    return (
        f'<form class="inline" method="post" action="{esc(url)}"{check}>'
        f'<input type="hidden" name="{CSRF_FIELD}" value="{esc(viewer.csrf)}">'
        f'<button type="submit" class="{esc(css)}" data-action="{esc(label.lower())}">'
        f"{esc(label)}</button></form>"
    )


def page(title: str, body: str, viewer: Viewer | None, *, live: str | None = None) -> str:
    """A whole page; ``live`` is the SSE URL whose updates replace ``#live``'s content."""
    nav = ""
    if viewer is not None:
        scope = viewer.caller.token.scope.value
        logout = (
            f'<form class="inline" method="post" action="/ui/logout">'
            f'<input type="hidden" name="{CSRF_FIELD}" value="{esc(viewer.csrf)}">'
            '<button type="submit">sign out</button></form>'
            if viewer.from_cookie
            else ""
        )
        nav = (
            '<a href="/ui/rollouts">Rollouts</a><a href="/ui/flags">Flags</a>'
            '<a href="/ui/journal">Journal</a>'
            f'<span class="who">{esc(viewer.actor)} ({esc(scope)}) {logout}</span>'
        )
    live_attr = f' data-live="{esc(live)}"' if live else ""
    script = '<script src="/ui/static/live.js" defer></script>' if live else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)} · rollsafe</title><style>{STYLE}</style>{script}</head><body>"
        f'<header class="top"><strong>rollsafe</strong>{nav}</header>'
        f'<main id="live"{live_attr}>{body}</main></body></html>'
    )


LIVE_JS = (Path(__file__).parent / "live.js").read_text(encoding="utf-8")
"""The only script: our own, a few lines, no library (see docs/dashboard.md)."""
