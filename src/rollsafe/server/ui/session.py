"""Who is looking at the dashboard: the same API tokens, from a header or a session cookie.

A browser signs in once with a token (``/ui/login``): the token goes into an
HttpOnly, SameSite=Strict cookie, so page scripts never see it and every request
checks it against the store as the API does (a revoked token stops working at
once for the next request past the token cache). Scripts and tests may send
``Authorization: Bearer <token>`` instead.

Any live token may view; acting needs an admin token. Actions from a cookie
session carry a CSRF token as well (double submit): a second random cookie,
also HttpOnly, which the server copies into each form it renders; a POST whose
``csrf`` field does not match the cookie is refused with 403 before anything is
read from the store. A request authenticated by header needs none (a browser
never adds that header to a cross-site request by itself).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request

from rollsafe.server.auth import Caller
from rollsafe.server.errors import ApiError
from rollsafe.server.service import get_service
from rollsafe.store.records import TokenScope

SESSION_COOKIE = "rollsafe_session"
CSRF_COOKIE = "rollsafe_csrf"
CSRF_FIELD = "csrf"
SESSION_SECONDS = 12 * 3600


def not_signed_in(message: str) -> ApiError:
    """No valid token: pages redirect to the login form, everything else answers 401."""
    return ApiError(401, "unauthorized", message)


def forbidden(message: str) -> ApiError:
    """A valid token that may not do this (a read token acting, or a failed CSRF check)."""
    return ApiError(403, "forbidden", message)


@dataclass(frozen=True)
class Viewer:
    caller: Caller
    from_cookie: bool
    csrf: str
    """The session's CSRF token, to render into forms ("" for header authentication)."""

    @property
    def is_admin(self) -> bool:
        return self.caller.token.scope is TokenScope.ADMIN

    @property
    def actor(self) -> str:
        return self.caller.actor


def presented_token(request: Request) -> tuple[str, bool]:
    header = request.headers.get("authorization", "").strip()
    if header:
        return (header[7:].strip() if header.lower().startswith("bearer ") else header), False
    return request.cookies.get(SESSION_COOKIE, ""), True


def viewer(request: Request) -> Viewer:
    """The signed-in viewer; a 401 `ApiError` without a live token."""
    token, from_cookie = presented_token(request)
    if not token:
        raise not_signed_in("sign in with an API token")
    record = get_service(request).auth.verify(token)
    if record is None:
        raise not_signed_in("invalid or revoked token")
    actor = f"token {record.name}"
    csrf = request.cookies.get(CSRF_COOKIE, "") if from_cookie else ""
    return Viewer(Caller(record, actor), from_cookie, csrf)


def actor_for(request: Request, submitted_csrf: str | None) -> Viewer:
    """The viewer, checked for acting: an admin token, and the CSRF token for a cookie session."""
    seen = viewer(request)
    if seen.from_cookie:
        expected = request.cookies.get(CSRF_COOKIE, "")
        given = submitted_csrf or request.headers.get("x-csrf-token", "")
        if not expected or not given or not hmac.compare_digest(expected, given):
            raise forbidden("missing or wrong CSRF token: reload the page and try again")
    if not seen.is_admin:
        raise forbidden(
            f"token {seen.caller.token.name!r} may view but not act: use an admin token"
        )
    return seen


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


def actor_for_signout(request: Request, submitted_csrf: str | None) -> Viewer:
    """Signing out needs the session's CSRF token (any scope), so no other site signs one out."""
    seen = viewer(request)
    expected = request.cookies.get(CSRF_COOKIE, "")
    if seen.from_cookie and not (
        expected and submitted_csrf and hmac.compare_digest(expected, submitted_csrf)
    ):
        raise forbidden("missing or wrong CSRF token")
    return seen


def still_valid(request: Request) -> bool:
    """Whether the request's token is still live (a live stream ends when it is revoked)."""
    try:
        viewer(request)
    except ApiError:
        return False
    return True


def rollout_actor_for(request: Request, submitted_csrf: str | None) -> Viewer:
    """As `actor_for`, for rollouts, which belong to no environment: a token for all of them."""
    seen = actor_for(request, submitted_csrf)
    if seen.caller.token.environment != "*":
        raise forbidden("only a token for all environments may steer rollouts")
    return seen
