"""Slack incoming webhooks: ``text`` (the notification's fallback) and Block Kit ``blocks``.

Limits respected: a header block's plain text is at most 150 characters, a
section's mrkdwn text at most 3,000, a context block at most 10 elements.
Slack answers 429 with ``Retry-After`` when a webhook is posted to too fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rollsafe.config.notify import NotifyChannel
from rollsafe.notify.message import Message
from rollsafe.notify.provider import Unsigned, register

_ICON = {"failure": ":rotating_light:", "warning": ":warning:", "success": ":white_check_mark:"}


class Slack(Unsigned):
    name = "slack"

    def payload(self, message: Message) -> dict[str, Any]:
        icon = _ICON.get(message.severity, ":information_source:")
        fields = [
            {"type": "mrkdwn", "text": f"*{_escape(name)}*\n{_escape(value)}"}
            for name, value in message.fields[:10]
        ]
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
        ]
        if message.text:
            blocks.append(
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": _escape(message.text)[:3000]},
                }
            )
        if fields:
            blocks.append({"type": "section", "fields": fields})
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"{icon} `{message.event}` · {message.time}"}
                ],
            }
        )
        return {"text": f"{icon} {_escape(message.title)}", "blocks": blocks}


def _escape(text: str) -> str:
    """Slack's three control characters in mrkdwn text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@register("slack")
def build(config: NotifyChannel, environ: Mapping[str, str]) -> Slack:
    del config, environ
    return Slack()
