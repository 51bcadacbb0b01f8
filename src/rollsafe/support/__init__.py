"""The bottom layer: small helpers every package may use, importing nothing of rollsafe.

Sibling packages may not import each other, so a helper two of them need
lives here once instead of being copied into each (one redactor, one test
of what a PostgreSQL URL is).
"""
