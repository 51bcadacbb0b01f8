"""Prometheus file-based discovery of a process target's instances.

A process target's instances listen on ports chosen at each start, so a
Prometheus of the user's own cannot list them in its configuration. rollsafe
keeps ``<home>/discovery/<service>.json`` in Prometheus's ``file_sd_configs``
format instead: one group per ready instance, labelled with the ``release`` it
runs, its ``instance`` slot and its ``role`` (``stable`` or ``canary``). Any
request counter with a status label can then be split by release with no
label of the service's own. The file is replaced atomically (Prometheus
reads a whole old or a whole new file) at every change of the ready set, and
lists nothing once the target stops.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rollsafe.errors import TargetError
from rollsafe.targets.state import Instance


def discovery_file(home: Path, service: str) -> Path:
    """Where the targets of ``service`` are listed for Prometheus."""
    return home / "discovery" / f"{service}.json"


def target_groups(service: str, instances: Iterable[Instance]) -> list[dict[str, Any]]:
    """``file_sd`` groups: one per instance, its address and its labels."""
    return [
        {
            "targets": [f"127.0.0.1:{instance.port}"],
            "labels": {
                "service": service,
                "release": instance.release,
                "instance": str(instance.index),
                "role": instance.role,
            },
        }
        for instance in instances
    ]


def write_targets(path: Path, service: str, instances: Iterable[Instance]) -> None:
    """Replace ``path`` with the groups of ``instances``; TargetError if it cannot be written."""
    text = json.dumps(target_groups(service, instances), indent=2) + "\n"
    # Not named *.json: a Prometheus watching the directory never reads a half-written file.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise TargetError(f"cannot write the Prometheus targets file {path}: {error}") from error
