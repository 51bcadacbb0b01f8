"""Reports written from the journal alone: incident reports and RCA drafts."""

from rollsafe.report.incident import build_incident, render_markdown, write_incident

__all__ = ["build_incident", "render_markdown", "write_incident"]
