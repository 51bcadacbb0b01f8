"""Which files were in rollouts that rolled back: the risk score's memory, from the journal.

How the journal links a rollout to files, in order:

1. the ``risk.scored`` entry written when the rollout was created with a risk
   range (``rollsafe rollout start --risk-range`` or the plan's ``risk.range``)
   lists the files the range changed;
2. otherwise, when the rollout's releases are git revisions (a tag per
   release, say ``1.1.0`` or ``v1.1.0``), the files changed between the release
   that was live before (``rollout.baseline``) and the release the rollout
   deployed (``deploy`` or ``canary`` steps), if ``resolve`` can diff them.

A rollout counts when it ended ``rolled_back`` or ``failed`` (no level
recovered): a regression reached users. An abort is a person's choice and
does not count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from rollsafe.journal import JournalEntry, Kind
from rollsafe.journal.payloads import baseline_of, result_of, step_moved

Resolve = Callable[[str, str], list[str]]
"""Files changed between two releases (``base``, ``head``); [] when they are not revisions."""
_ROLLED_BACK = frozenset({Kind.ROLLOUT_ROLLED_BACK, Kind.ROLLOUT_FAILED})
_DEPLOYING = frozenset({"deploy", "canary"})


def rollback_counts(
    entries: Iterable[JournalEntry], resolve: Resolve | None = None
) -> Counter[str]:
    """For each file, in how many rolled-back rollouts it was."""
    rollouts: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if entry.rollout_id is None:
            continue
        facts = rollouts.setdefault(entry.rollout_id, {"releases": []})
        if entry.kind == Kind.RISK_SCORED:
            facts["files"] = list(entry.data.get("files") or [])
        elif entry.kind == Kind.ROLLOUT_BASELINE:
            facts["baseline"] = baseline_of(entry).get("release")
        elif entry.kind == Kind.STEP_SUCCEEDED and step_moved(entry)["kind"] in _DEPLOYING:
            release = result_of(entry).get("release")
            if release:
                facts["releases"].append(str(release))
        elif entry.kind in _ROLLED_BACK:
            facts["rolled_back"] = True
    counts: Counter[str] = Counter()
    for facts in rollouts.values():
        if not facts.get("rolled_back"):
            continue
        files = facts.get("files")
        if files is None and resolve is not None and facts.get("baseline"):
            files = []
            for release in dict.fromkeys(facts["releases"]):
                files += resolve(str(facts["baseline"]), release)
        counts.update(set(files or []))
    return counts
