"""GraphiQL at `GET /graphql` for a browser (`Accept: text/html`), and its files at `/graphql/assets/`.

The page is answered before the GraphQL route, whose token check would refuse a browser that has not
signed in yet (a 401 instead of the IDE). It signs in with identity's public client
`GATEWAY_GRAPHIQL_CLIENT_ID`, whose redirect URI is this very page, and sends the access token with each
operation; "Sign out" ends the sign-in at identity (RP-initiated logout). Its Content-Security-Policy
loads scripts and styles only from the gateway and talks only to the gateway and identity.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from html import escape
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

STATIC = Path(__file__).with_name("static")
ASSETS = {
    "graphiql.min.js": "text/javascript",
    "graphiql.min.css": "text/css",
    "react.production.min.js": "text/javascript",
    "react-dom.production.min.js": "text/javascript",
    "effekt-graphiql.js": "text/javascript",
    "effekt-graphiql.css": "text/css",
    "LICENSES.txt": "text/plain",
}
# Scopes the IDE asks for: everything a person may hold, so each partner type sees its whole graph.
SCOPE = (
    "openid profile email offline_access partners:read partners:write contracts:read contracts:write "
    "contracts:sign outcomes:read outcomes:write outcomes:verify feed:read webhooks:manage audit:read"
)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def demo_users(demo_file: Path | None) -> list[dict[str, str]]:
    """The demo's users by partner type (`effekt up` writes the file after the gateway starts)."""
    if demo_file is None:
        return []
    try:
        users = json.loads(demo_file.read_text())["users"]
        return [
            {"key": key, "partnerType": str(user["partner_type"]), "email": str(user["email"])}
            for key, user in users.items()
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def page_html(*, issuer: str, client_id: str | None, demo: list[dict[str, str]] | None = None) -> str:
    config = json.dumps(
        {"issuer": issuer.rstrip("/"), "clientId": client_id, "scope": SCOPE, "demoUsers": demo or []}
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Effekt GraphiQL</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/graphql/assets/graphiql.min.css">
<link rel="stylesheet" href="/graphql/assets/effekt-graphiql.css">
</head><body>
<header id="effekt-bar"><strong>Effekt GraphiQL</strong>
<span id="effekt-who" role="status">Not signed in</span>
<button id="effekt-sign-in" type="button">Sign in</button>
<label id="effekt-demo-label" hidden>Sign in as a demo user <select id="effekt-demo"></select></label>
<button id="effekt-sign-out" type="button" hidden>Sign out</button></header>
<div id="graphiql">Loading…</div>
<script id="effekt-config" type="application/json">{escape(config, quote=False)}</script>
<script src="/graphql/assets/react.production.min.js"></script>
<script src="/graphql/assets/react-dom.production.min.js"></script>
<script src="/graphql/assets/graphiql.min.js"></script>
<script src="/graphql/assets/effekt-graphiql.js"></script>
</body></html>"""


def _csp(issuer: str) -> str:
    return (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        f"font-src 'self' data:; connect-src 'self' {_origin(issuer)}; form-action 'none'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


class GraphiQLPage:
    """ASGI middleware: a browser's `GET /graphql` gets the page; everything else passes through."""

    def __init__(
        self, app: ASGIApp, *, issuer: str, client_id: str | None, demo_file: Path | None = None
    ) -> None:
        self.app = app
        self.issuer, self.client_id, self.demo_file = issuer, client_id, demo_file
        self.csp = _csp(issuer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == "/graphql":
            headers = dict(scope["headers"])
            if b"text/html" in headers.get(b"accept", b"") and b"query=" not in scope["query_string"]:
                body = page_html(
                    issuer=self.issuer, client_id=self.client_id, demo=demo_users(self.demo_file)
                )
                response = Response(
                    body,
                    media_type="text/html; charset=utf-8",
                    headers={
                        "Content-Security-Policy": self.csp,
                        "Cache-Control": "no-store",
                        "Referrer-Policy": "no-referrer",
                        "X-Frame-Options": "DENY",
                    },
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


@cache
def _asset(name: str) -> bytes:
    """The gzip-compressed file (vendored ones are stored compressed; ours are compressed once here)."""
    stored = STATIC / f"{name}.gz"
    if stored.exists():
        return stored.read_bytes()
    plain = STATIC / name if (STATIC / name).exists() else STATIC.parent / name
    return gzip.compress(plain.read_bytes(), mtime=0)


router = APIRouter(include_in_schema=False)


@router.get("/graphql/assets/{name}")
async def graphiql_asset(name: str, request: Request) -> Response:
    if name not in ASSETS:
        raise HTTPException(404)
    data = _asset(name)
    headers = {"Cache-Control": "public, max-age=3600", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
    else:
        data = gzip.decompress(data)
    return Response(data, media_type=f"{ASSETS[name]}; charset=utf-8", headers=headers)
