"""The bucketing hashes of the Unleash specification, and the random source for random stickiness.

Gradual rollouts put ``murmur3_32("{groupId}:{id}", seed 0) % 100 + 1`` in
1..100 and enable when it is at most the rollout percentage; variants use the
same hash with seed 86028157 modulo the total weight. Because the bucket of an
id does not depend on the percentage, raising a rollout from 10% to 25% keeps
everyone who was already in.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import mmh3

ROLLOUT_SEED = 0
VARIANT_SEED = 86028157

murmur3: Callable[[str, int, bool], int] = mmh3.hash
"""``murmur3(key, seed, False)``: unsigned 32-bit MurmurHash3 of the UTF-8 of ``key``."""

random_fraction = random.random
"""Uniform in [0, 1): the source for ``random`` stickiness and ``gradualRolloutRandom``."""


def normalized_value(group_id: str, identifier: str, modulus: int = 100, seed: int = 0) -> int:
    """Bucket of ``identifier`` within ``group_id``, in ``1..modulus``."""
    return murmur3(f"{group_id}:{identifier}", seed, False) % modulus + 1


def random_bucket(modulus: int = 100) -> int:
    """A bucket in ``1..modulus`` drawn at random (random stickiness)."""
    return int(random_fraction() * modulus) + 1
