"""The SDK tests run against the same real flag server as the server tests."""

# Importing the fixtures registers them here; pytest finds them by name, so the
# imports look unused to a linter.
from tests.server.conftest import api, db, server, store, tokens  # noqa: F401
