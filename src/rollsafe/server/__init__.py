"""The flag service: FastAPI app with flag CRUD, kill switch, tokens, ETag'd state and SSE.

`create_app(store)` builds the app over a rollsafe state store (a ``postgresql://``
URL, a SQLite path or a factory); `serve` runs it under uvicorn (``rollsafe
server``); `BackgroundServer` runs it in a thread. Replicas over one PostgreSQL
database stream each other's changes at once (LISTEN/NOTIFY).
"""

from rollsafe.server.app import StoreSource, create_app
from rollsafe.server.runner import BackgroundServer, serve
from rollsafe.server.settings import ServerSettings

__all__ = ["BackgroundServer", "ServerSettings", "StoreSource", "create_app", "serve"]
