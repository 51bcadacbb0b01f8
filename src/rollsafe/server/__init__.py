"""The flag service: FastAPI app with flag CRUD, kill switch, tokens, ETag'd state and SSE.

`create_app(db_path)` builds the app over a rollsafe state store; `serve` runs it
under uvicorn (``rollsafe server``); `BackgroundServer` runs it in a thread.
"""

from rollsafe.server.app import create_app
from rollsafe.server.runner import BackgroundServer, serve
from rollsafe.server.settings import ServerSettings

__all__ = ["BackgroundServer", "ServerSettings", "create_app", "serve"]
