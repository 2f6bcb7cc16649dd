"""kit.cors on a small app: `*` never comes with credentials, an unknown origin re-reads the set once per
window, a failing source keeps the last set, and paths outside the list never answer CORS."""

from __future__ import annotations

from collections.abc import Iterable

import httpx
import pytest
from fastapi import FastAPI

from kit.cors import AllowedOrigins, CorsMiddleware, origin_of


def app_with(origins: AllowedOrigins) -> FastAPI:
    app = FastAPI()

    @app.get("/open")
    async def open_() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/closed")
    async def closed() -> dict[str, str]:
        return {"ok": "yes"}

    app.add_middleware(CorsMiddleware, origins=origins, paths=("/open",))
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize(
    ("uri", "origin"),
    [
        ("https://Console.Example.dk/callback", "https://console.example.dk"),
        ("http://127.0.0.1:5173/cb?x=1", "http://127.0.0.1:5173"),
        ("dk.effekt.app:/oauth", None),
        ("https://user@evil.example/cb", None),
        ("https:///nohost", None),
    ],
)
def test_origin_of_a_redirect_uri(uri: str, origin: str | None) -> None:
    assert origin_of(uri) == origin


async def test_a_wildcard_deployment_answers_star_and_never_credentials() -> None:
    async with client(app_with(AllowedOrigins(["*"]))) as http:
        answer = await http.get("/open", headers={"Origin": "https://any.example"})
        preflight = await http.options(
            "/open", headers={"Origin": "https://any.example", "Access-Control-Request-Method": "GET"}
        )
    assert answer.headers["access-control-allow-origin"] == "*"
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in answer.headers
    assert "access-control-allow-credentials" not in preflight.headers


async def test_an_unknown_origin_rereads_the_set_at_most_once_per_window_and_a_failure_keeps_it() -> None:
    calls: list[int] = []
    current: list[str] = ["https://old.example"]

    async def source() -> Iterable[str]:
        calls.append(1)
        if current == ["boom"]:
            raise RuntimeError("identity is down")
        return list(current)

    origins = AllowedOrigins([], source, refresh_seconds=3600, miss_seconds=3600)
    async with client(app_with(origins)) as http:
        first = await http.get("/open", headers={"Origin": "https://old.example"})
        current[:] = ["https://new.example"]
        # Within the window an unknown origin is refused without asking the source again.
        for _ in range(3):
            refused = await http.get("/open", headers={"Origin": "https://new.example"})
            assert "access-control-allow-origin" not in refused.headers
        assert len(calls) == 1
        origins._miss_seconds = 0  # the window has passed
        learnt = await http.get("/open", headers={"Origin": "https://new.example"})
        current[:] = ["boom"]
        origins._refresh_seconds = 0  # every request re-reads now, and the read fails
        kept = await http.get("/open", headers={"Origin": "https://new.example"})
        await origins.settled()  # the failing re-read ran beside the request, which did not wait for it
        still = await http.get("/open", headers={"Origin": "https://new.example"})
        await origins.settled()
        outside = await http.get("/closed", headers={"Origin": "https://new.example"})
    assert first.headers["access-control-allow-origin"] == "https://old.example"
    assert learnt.headers["access-control-allow-origin"] == "https://new.example"
    assert kept.headers["access-control-allow-origin"] == "https://new.example"
    assert still.headers["access-control-allow-origin"] == "https://new.example"
    assert "access-control-allow-origin" not in outside.headers
    assert len(calls) >= 3  # the first read, the one the unknown origin caused, then failing ones
