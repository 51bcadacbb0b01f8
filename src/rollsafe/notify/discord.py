"""Discord channel webhooks: a short ``content`` line and one embed.

Limits respected: content 2,000 characters, embed title 256, description
4,096, at most 25 fields with names of 256 and values of 1,024 characters.
Discord answers 429 with ``Retry-After`` (and ``retry_after`` in the body).
Mentions are switched off (``allowed_mentions``) so a reason that happens to
contain ``@everyone`` pings nobody.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rollsafe.config.notify import NotifyChannel
from rollsafe.notify.message import Message
from rollsafe.notify.provider import Unsigned, register

_COLOR = {"failure": 0xD93025, "warning": 0xF29900, "success": 0x188038, "info": 0x5F6368}


class Discord(Unsigned):
    name = "discord"

    def payload(self, message: Message) -> dict[str, Any]:
        embed = {
            "title": message.title[:256],
            "description": message.text[:4096],
            "color": _COLOR[message.severity],
            "timestamp": message.time,
            "fields": [
                {"name": name[:256], "value": value[:1024], "inline": True}
                for name, value in message.fields[:24]
            ]
            + [{"name": "Event", "value": message.event, "inline": True}],
        }
        return {
            "content": message.title[:2000],
            "embeds": [embed],
            "allowed_mentions": {"parse": []},
        }


@register("discord")
def build(config: NotifyChannel, environ: Mapping[str, str]) -> Discord:
    del config, environ
    return Discord()
