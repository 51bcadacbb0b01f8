"""A plan's ``notify:`` list as one notifier: pick the events, render, hand to senders.

The controller calls it with every journal entry of the rollout (from the
journal follower's thread, so it must return at once) and closes it when the
run ends. Closing waits for all channels together, at most the longest
channel ``timeout``: a dead receiver delays the end of a run by no more.
A channel that cannot be built (its ``url_env`` unset, say) is reported as a
failure and left out; the rollout goes on either way.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence

import httpx

from rollsafe.config.notify import DERIVED_EVENTS, NotifyChannel
from rollsafe.errors import RollsafeError
from rollsafe.journal import JournalEntry
from rollsafe.notify import discord, slack, teams, webhook
from rollsafe.notify.delivery import BACKOFF, FailureReport, Sender
from rollsafe.notify.message import Message, describe, event_of
from rollsafe.notify.provider import PROVIDERS

log = logging.getLogger(__name__)
_FORMATS = (discord, slack, teams, webhook)  # imported for their registrations


class Channel:
    """One configured channel: its events and its sender."""

    def __init__(
        self,
        config: NotifyChannel,
        sender: Sender,
    ) -> None:
        self.config, self.sender = config, sender
        events = set(config.events)
        self._events = events
        self._kinds = events | {DERIVED_EVENTS[e] for e in events if e in DERIVED_EVENTS}

    def wants(self, entry: JournalEntry) -> bool:
        """Its kind is subscribed (all such entries), or the derived event it is."""
        if entry.kind not in self._kinds:
            return False
        return entry.kind in self._events or event_of(entry) in self._events


class Notifications:
    """Every channel of a plan behind the controller's ``Notifier`` interface."""

    def __init__(self, channels: Sequence[Channel], service: str) -> None:
        self.channels, self.service = list(channels), service

    def __call__(self, entry: JournalEntry) -> None:
        message = None
        for channel in self.channels:
            if channel.wants(entry):
                message = message or self._describe(entry)
                channel.sender.put(message)

    def _describe(self, entry: JournalEntry) -> Message:
        """``entry`` in words; an entry whose data surprises the wording still goes out."""
        try:
            return describe(entry, self.service)
        except Exception as error:  # the follower's thread: a raise would end notifications
            log.error("cannot word journal entry %s (%s): %s", entry.seq, entry.kind, error)
            return Message(
                event=event_of(entry),
                severity="info",
                title=f"{self.service}: {entry.kind}",
                text="",
                service=self.service,
                entry=entry,
            )

    def close(self) -> None:
        if not self.channels:
            return
        deadline = time.monotonic() + max(c.config.timeout for c in self.channels)
        for channel in self.channels:
            channel.sender.finish()
        for channel in self.channels:
            channel.sender.join(deadline)


def build_notifications(
    configs: Sequence[NotifyChannel],
    service: str,
    on_failure: FailureReport | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    backoff: float | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Notifications:
    """The plan's channels; one that cannot be built is reported and skipped."""
    environ = os.environ if environ is None else environ
    channels = []
    for index, config in enumerate(configs):
        try:
            channels.append(
                open_channel(
                    index, config, environ, on_failure, backoff=backoff, transport=transport
                )
            )
        except RollsafeError as error:
            label = channel_label(index, config)
            log.warning("%s left out: %s", label, error)
            if on_failure is not None:
                on_failure({"channel": label, "error": str(error), "disabled": True})
    return Notifications(channels, service)


def channel_label(index: int, config: NotifyChannel) -> str:
    """How journal entries and reports name a channel: ``notify[0] slack``."""
    return f"notify[{index}] {config.type}"


def open_channel(
    index: int,
    config: NotifyChannel,
    environ: Mapping[str, str],
    on_failure: FailureReport | None = None,
    *,
    backoff: float | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Channel:
    """One channel with its sender thread; RollsafeError when its URL or secret is missing."""
    url = _url(config, environ)
    provider = PROVIDERS[config.type](config, environ)
    sender = Sender(
        provider,
        url,
        label=channel_label(index, config),
        timeout=config.timeout,
        retries=config.retries,
        on_failure=on_failure,
        transport=transport,
        backoff=BACKOFF if backoff is None else backoff,
    )
    return Channel(config, sender)


def _url(config: NotifyChannel, environ: Mapping[str, str]) -> str:
    if config.url is not None:
        return config.url
    assert config.url_env is not None  # the config allows exactly one of the two
    url = environ.get(config.url_env, "")
    if not url.startswith(("http://", "https://")):
        state = "is not set" if not url else "does not hold an http(s) URL"
        raise RollsafeError(f"url_env names {config.url_env}, which {state}")
    return url
