"""The nginx directives that record every request for ``metrics.provider: router``.

One JSON object per line (``escape=json``), written as each request ends and
without a buffer, so a record is readable as soon as its client has the
response; :mod:`rollsafe.metrics.router` reads them. The fields are
:func:`rollsafe.config.router_metrics.record_fields`.
"""

from __future__ import annotations

from pathlib import Path

from rollsafe.config.router_metrics import NUMERIC_FIELDS, record_fields

RECORDS_FORMAT = "rollsafe_records"


def record_directives(path: Path, variant_header: str) -> str:
    """``log_format`` and ``access_log`` lines (http level) writing the records to ``path``."""
    fields = ",".join(
        f'"{name}":{variable}' if name in NUMERIC_FIELDS else f'"{name}":"{variable}"'
        for name, variable in record_fields(variant_header).items()
    )
    return (
        f"    log_format {RECORDS_FORMAT} escape=json '{{{fields}}}';\n"
        f'    access_log "{path}" {RECORDS_FORMAT};'
    )
