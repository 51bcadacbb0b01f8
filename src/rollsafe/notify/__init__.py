"""Notifications: journal entries sent out, never in the way of a rollout or a rollback."""

from rollsafe.notify.webhook import WebhookNotifier

__all__ = ["WebhookNotifier"]
