"""The generic webhook: rollsafe's own JSON, HMAC-signed when the plan names a secret.

The body carries the message in words (``title``, ``text``, ``fields``) and
the whole journal entry (``entry``, with its hash), so a receiver can act on
the data itself. With ``secret_env`` set, every request is signed as
`rollsafe.notify.signing` describes (docs/notifications.md has a receiver).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rollsafe.config.notify import NotifyChannel, WebhookNotify
from rollsafe.errors import RollsafeError
from rollsafe.notify.message import Message
from rollsafe.notify.provider import register
from rollsafe.notify.signing import sign


class Webhook:
    name = "webhook"

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret

    @property
    def signed(self) -> bool:
        return self._secret is not None

    def payload(self, message: Message) -> dict[str, Any]:
        return {
            "event": message.event,
            "severity": message.severity,
            "service": message.service,
            "rollout_id": message.rollout_id,
            "title": message.title,
            "text": message.text,
            "fields": dict(message.fields),
            "time": message.time,
            "entry": message.entry.to_dict(),
        }

    def headers(self, body: bytes, now: float) -> dict[str, str]:
        return sign(self._secret, body, now) if self._secret is not None else {}


@register("webhook")
def build(config: NotifyChannel, environ: Mapping[str, str]) -> Webhook:
    if not isinstance(config, WebhookNotify) or config.secret_env is None:
        return Webhook()
    secret = environ.get(config.secret_env)
    if not secret:
        raise RollsafeError(
            f"notify: secret_env names {config.secret_env}, which is not set "
            "(refusing to send unsigned)"
        )
    return Webhook(secret.encode())
