"""Notifications: journal entries sent to Slack, Teams, Discord or a webhook, never in the
way of a rollout or a rollback (docs/notifications.md)."""

from rollsafe.notify.channels import Notifications, build_notifications
from rollsafe.notify.message import Message, describe, event_of
from rollsafe.notify.signing import verify

__all__ = ["Message", "Notifications", "build_notifications", "describe", "event_of", "verify"]
