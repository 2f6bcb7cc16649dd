"""An embedded PostgreSQL for a machine with none set up: the `pgserver` wheel (PostgreSQL 16).

It listens on a Unix socket only (never a TCP port, so it cannot collide with a server on 5432), keeps its
data under the given folder between runs, and works as a normal user; as root it runs the server as a
`pgserver` system user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlparse


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: object | None = None

    def start(self) -> str:
        """Start (or attach to) the server; return a `postgresql://` URL for its `postgres` database."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset (root, CI)
            # Imported late: only needed without an external database.
            from pgserver.postgres_server import get_server

            server = get_server(self.data_dir, cleanup_mode="stop")
        self._server = server
        uri: str = server.get_uri()
        return uri

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]


def asyncpg_url(server_url: str, database: str) -> str:
    """The SQLAlchemy asyncpg URL for `database` on the server at `server_url` (TCP or Unix socket)."""
    parsed = urlparse(server_url)
    query = parse_qs(parsed.query)
    user = parsed.username or "postgres"
    password = f":{parsed.password}" if parsed.password else ""
    netloc = f"{user}{password}@{parsed.hostname or ''}" + (f":{parsed.port}" if parsed.port else "")
    host = query.get("host", [None])[0]
    suffix = f"?host={host}" if host else ""
    return f"postgresql+asyncpg://{netloc}/{database}{suffix}"
