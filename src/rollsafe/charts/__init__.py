"""Charts of a rollout drawn from its journal: the series (``series``), which charts an
analysis step gets (``figures``) and their SVG (``svg``).

Shared by the dashboard (``rollsafe.server.ui``) and the HTML incident report
(``rollsafe.report``), which must not import each other: this package sits below
both, above the judge it replays (see docs/architecture.md).
"""
