"""Traffic routers: what sends a share of requests to the canary instances (adapters layer).

A router implements :class:`TrafficRouter`: ``set_weights(stable, canary,
canary_weight)`` applies a split, ``restore_previous()`` returns to the one
before, ``start``/``stop`` run it; failures raise :class:`RouterError` (a
:class:`~rollsafe.errors.TargetError`) and leave the split in force. This
layer imports only ``rollsafe.config``, ``rollsafe.errors``, ``rollsafe.support``
and third-party packages.
"""

from rollsafe.routers.base import RouterError, Split, TrafficRouter
from rollsafe.routers.nginx import MAINTENANCE_RETRY_AFTER, NginxRouter

__all__ = [
    "MAINTENANCE_RETRY_AFTER",
    "NginxRouter",
    "RouterError",
    "Split",
    "TrafficRouter",
]
