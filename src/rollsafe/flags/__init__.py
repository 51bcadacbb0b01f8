"""Feature flags: Unleash-compatible local evaluation (`Engine`) and flag definitions.

`Engine.from_unleash(state)` builds an immutable engine from an Unleash
``/api/client/features`` document; `Engine.is_enabled` and `Engine.get_variant`
evaluate locally without I/O. `rollout_feature` builds the definition of a flag
rolled out to a percentage of users.
"""

from rollsafe.flags.engine import Engine, rollout_feature

__all__ = ["Engine", "rollout_feature"]
