"""GraphiQL over HTTP: a browser's GET /graphql gets the IDE (not a 401), from files the gateway serves
itself (no address off the machine in the page), under a CSP that talks only to the gateway and identity;
every other request to /graphql is the GraphQL endpoint as before, and production serves no IDE."""

from __future__ import annotations

import gzip
import html
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.graphiql.page import ASSETS, STATIC, GraphiQLPage
from gateway.settings import Settings

ISSUER = "http://127.0.0.1:8001"


def client(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://gw")


async def test_a_browser_gets_the_ide_from_the_gateways_own_files() -> None:
    settings = Settings(environment="test", issuer=ISSUER, graphiql_client_id="effekt-graphiql")
    async with client(settings) as http:
        page = await http.get("/graphql", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        assets = {name: await http.get(f"/graphql/assets/{name}") for name in ASSETS}
        plain = await http.get(
            "/graphql/assets/react.production.min.js", headers={"Accept-Encoding": "identity"}
        )
        unknown = await http.get("/graphql/assets/..%2Fpage.py")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources
    assert all(s.startswith("/graphql/assets/") for s in sources)
    assert "effekt-graphiql" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert f"connect-src 'self' {ISSUER};" in csp
    assert "frame-ancestors 'none'" in csp
    for name, answer in assets.items():
        assert answer.status_code == 200, name
        assert answer.headers["content-type"].startswith(ASSETS[name]), name
        assert len(answer.content) > 100, name  # httpx has undone the gzip encoding
    assert b"GraphiQL" in assets["graphiql.min.js"].content
    assert plain.headers.get("content-encoding") is None
    assert plain.content == gzip.decompress((STATIC / "react.production.min.js.gz").read_bytes())
    assert unknown.status_code == 404


async def test_anything_but_a_browsers_get_is_the_graphql_endpoint_as_before(
    gateway: httpx.AsyncClient,
) -> None:
    api = await gateway.get("/graphql", headers={"Accept": "application/json"})
    html_query = await gateway.get(
        "/graphql", params={"query": "{ me { partnerType } }"}, headers={"Accept": "text/html"}
    )
    posted = await gateway.post("/graphql", json={"query": "{ __typename }"}, headers={"Accept": "text/html"})
    for answer in (api, html_query, posted):
        assert "GraphiQL" not in answer.text
    assert api.status_code == 401
    assert posted.status_code == 401


async def test_production_serves_no_ide() -> None:
    settings = Settings(
        environment="production",
        issuer=ISSUER,
        secret_key="x" * 40,
        revocations_client_id="effekt-gateway",
        revocations_client_secret="y" * 40,
    )
    app = create_app(settings)
    assert all(middleware.cls is not GraphiQLPage for middleware in app.user_middleware)  # type: ignore[comparison-overlap]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        asset = await http.get("/graphql/assets/graphiql.min.js")
    assert asset.status_code == 404


@pytest.mark.parametrize("name", ["graphiql.min.js", "graphiql.min.css", "react-dom.production.min.js"])
def test_the_vendored_files_carry_the_versions_the_lock_file_pins(name: str) -> None:
    folder = Path("gateway/graphiql")
    lock = json.loads((folder / "package-lock.json").read_text())["packages"]
    notices = (folder / "static" / "LICENSES.txt").read_text()
    for package in ("graphiql", "react", "react-dom"):
        assert f"{package} {lock[f'node_modules/{package}']['version']}\n" in notices
    assert (folder / "static" / f"{name}.gz").stat().st_size > 1000


async def test_the_demo_picker_lists_each_demo_user_by_partner_type(tmp_path: Path) -> None:
    demo = tmp_path / "demo.json"
    settings = Settings(
        environment="test", issuer=ISSUER, graphiql_client_id="effekt-graphiql", graphiql_demo_file=demo
    )
    accept = {"Accept": "text/html"}
    async with client(settings) as http:
        before = await http.get(
            "/graphql", headers=accept
        )  # effekt up writes the file after the gateway starts
        demo.write_text(
            json.dumps(
                {
                    "partnership_id": "p",
                    "web_client_id": "w",
                    "users": {
                        "herning": {"email": "herning-1@demo.effekt.dk", "partner_type": "municipality"},
                        "investor": {"email": "investor-1@demo.effekt.dk", "partner_type": "investor"},
                    },
                }
            )
        )
        after = await http.get("/graphql", headers=accept)
    assert _config(before)["demoUsers"] == []
    assert _config(after)["demoUsers"] == [
        {"key": "herning", "partnerType": "municipality", "email": "herning-1@demo.effekt.dk"},
        {"key": "investor", "partnerType": "investor", "email": "investor-1@demo.effekt.dk"},
    ]


def _config(page: httpx.Response) -> dict[str, Any]:
    match = re.search(r'<script id="effekt-config" type="application/json">(.*?)</script>', page.text, re.S)
    assert match is not None
    return dict(json.loads(html.unescape(match.group(1))))
