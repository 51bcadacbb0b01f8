"""Microsoft Teams: an Adaptive Card posted to a Workflows ("Post to a channel when a
webhook request is received") URL.

The Office 365 connector ``MessageCard`` webhooks were retired by Microsoft
(March 2026); Workflows take a ``message`` whose attachment is an Adaptive
Card (schema 1.4 renders in Teams on every client). A FactSet carries the fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rollsafe.config.notify import NotifyChannel
from rollsafe.notify.message import Message
from rollsafe.notify.provider import Unsigned, register

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
_COLOR = {"failure": "Attention", "warning": "Warning", "success": "Good"}


class Teams(Unsigned):
    name = "teams"

    def payload(self, message: Message) -> dict[str, Any]:
        body: list[dict[str, Any]] = [
            {
                "type": "TextBlock",
                "text": message.title,
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
                "color": _COLOR.get(message.severity, "Default"),
            }
        ]
        if message.text:
            body.append({"type": "TextBlock", "text": message.text, "wrap": True})
        facts = [{"title": name, "value": value} for name, value in message.fields]
        facts.append({"title": "Event", "value": message.event})
        facts.append({"title": "Time", "value": message.time})
        body.append({"type": "FactSet", "facts": facts})
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "msteams": {"width": "Full"},
            "body": body,
        }
        return {
            "type": "message",
            "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card}],
        }


@register("teams")
def build(config: NotifyChannel, environ: Mapping[str, str]) -> Teams:
    del config, environ
    return Teams()
