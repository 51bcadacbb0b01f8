"""Reports written from the journal alone: incident reports (Markdown, JSON and a
self-contained HTML file with the charts) and RCA drafts."""

from rollsafe.report.incident import build_incident, html_report, render_markdown, write_incident

__all__ = ["build_incident", "html_report", "render_markdown", "write_incident"]
