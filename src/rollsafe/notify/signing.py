"""HMAC signatures on the generic webhook, and how a receiver checks them.

The sender adds two headers::

    X-Rollsafe-Timestamp: 1764898500
    X-Rollsafe-Signature: sha256=<hex of HMAC-SHA256(secret, timestamp + "." + body)>

where ``timestamp`` is the header's decimal text and ``body`` the exact bytes
of the request body. A receiver recomputes the HMAC over the bytes it got,
compares in constant time, and refuses a timestamp more than ``TOLERANCE``
seconds from its clock, so a captured request cannot be replayed later.
(Within the window, ``X-Rollsafe-Delivery`` names the delivery for dedup.)
Slack, Teams and Discord incoming webhooks verify nothing: their URL is the
secret, which is why plans name it through ``url_env``.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Rollsafe-Timestamp"
SIGNATURE_HEADER = "X-Rollsafe-Signature"
DELIVERY_HEADER = "X-Rollsafe-Delivery"
TOLERANCE = 300.0
"""Seconds a receiver accepts between the signed timestamp and its own clock."""
_SCHEME = "sha256="


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Rollsafe-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return _SCHEME + digest


def sign(secret: bytes, body: bytes, now: float) -> dict[str, str]:
    """The signing headers for ``body`` sent at ``now`` (epoch seconds)."""
    timestamp = str(int(now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: bytes,
    body: bytes,
    timestamp: str | None,
    signed: str | None,
    now: float,
    tolerance: float = TOLERANCE,
) -> str | None:
    """None when the request is authentic and fresh, else why it is refused."""
    if not timestamp or not signed:
        return "missing signature headers"
    if not timestamp.isdigit():
        return "malformed timestamp"
    if abs(now - int(timestamp)) > tolerance:
        return "timestamp outside the replay window"
    if not hmac.compare_digest(signature(secret, timestamp, body), signed):
        return "signature does not match"
    return None
