"""Identity's revocation list, held in memory by every process that verifies tokens, identity aside.

A token is refused before it expires when its `jti` is listed (revoked, RFC 7009), when its sign-in (`sid`)
is listed (a replayed refresh token or a twice-redeemed code ends every token of that sign-in), or when it
was issued
under an older *token epoch* of its organisation, client or user than the list names. Identity bumps a
subject's epoch in the same transaction as any change that alters what that subject's tokens say or
whether they may be used (a membership removed, an organisation role changed, a user or client disabled),
and every token carries the epochs it was issued under (`epochs` claim, see kit/auth.py). The list holds
only what changed within the last access-token lifetime (an organisation's epoch: 30 days, for webhook
subscriptions, which outlive tokens), so it stays small.

`RevocationFeed` fetches `GET /v1/token-revocations` (beside the JWKS) every `revocations_poll_seconds`
with a confidential client of its own (`tokens:revocations` scope), sending the last ETag so that an
unchanged list costs a 304. A revocation therefore holds everywhere within one poll interval (plus one
round trip). When identity cannot be reached the feed keeps its last list and the process keeps serving:
an identity outage must not become an outage of every service, the stale list misses only what changed
during the outage, and every token still expires. It logs, and `effekt_token_revocations_age_seconds`
(and `/readyz`'s `token_revocations`) says how old the list is: alert on it. Before the first list has
arrived tokens are refused, as they are before the first JWKS.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
from fastapi import FastAPI
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kit.auth import Principal, TokenVerifier
from kit.problems import Unauthorized
from kit.settings import AppSettings, InsecureConfiguration

REVOCATIONS_SCOPE = "tokens:revocations"
# While the list cannot be had at all, a request waits for at most one fetch per this many seconds.
FIRST_FETCH_RETRY = 1.0
# While identity is unreachable, log again this often.
LOG_EVERY = 60.0

log = structlog.get_logger(__name__)

Fetcher = Callable[[], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class Revocations:
    """One version of the list: revoked token ids, and the epoch each listed subject's tokens must reach."""

    revoked: frozenset[str] = frozenset()
    # Sign-ins (`sid`, refresh-token families) every token of which is void.
    sessions: frozenset[str] = frozenset()
    # (kind, subject id) -> the lowest epoch still valid; kinds are "organisation", "client" and "user".
    superseded: Mapping[tuple[str, str], int] = field(default_factory=dict)
    # organisation id -> its (partnership id, role) memberships at that lowest epoch, where identity says.
    memberships: Mapping[str, frozenset[tuple[str, str]]] = field(default_factory=dict)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Revocations:
        """Parse identity's `{"revoked": [jti, ...], "sessions": [sid, ...], "superseded": [{"kind", "id",
        "epoch"}, ...]}` (an organisation's item may also carry `"memberships": [{"partnership_id", "role"},
        ...]`; a list without `sessions` is an older identity's, which ends none)."""
        revoked = frozenset(str(jti) for jti in document["revoked"])
        sessions = frozenset(str(sid) for sid in document.get("sessions", []))
        superseded: dict[tuple[str, str], int] = {}
        memberships: dict[str, frozenset[tuple[str, str]]] = {}
        for item in document["superseded"]:
            epoch = item["epoch"]
            if not isinstance(epoch, int) or isinstance(epoch, bool):
                raise ValueError("an epoch is an integer")
            kind, subject = str(item["kind"]), str(item["id"])
            superseded[(kind, subject)] = epoch
            if kind == "organisation" and item.get("memberships") is not None:
                memberships[subject] = frozenset(
                    (str(m["partnership_id"]), str(m["role"])) for m in item["memberships"]
                )
        return cls(revoked, sessions, superseded, memberships)

    def refusal(self, principal: Principal) -> str | None:
        """Why identity no longer stands behind the principal's token, or None."""
        if principal.token_id is not None and principal.token_id in self.revoked:
            return "this token was revoked"
        if principal.session_id is not None and principal.session_id in self.sessions:
            return "this token was revoked with its sign-in; sign in again"
        for kind, subject in _subjects(principal):
            floor = self.superseded.get((kind, subject))
            if floor is not None and principal.epochs.get(kind, 0) < floor:
                return f"this token predates a change to its {kind}; get a new one"
        return None


def _subjects(principal: Principal) -> Iterator[tuple[str, str]]:
    yield "organisation", str(principal.organisation_id)
    if principal.client_id is not None:
        yield "client", principal.client_id
    if principal.kind == "user":
        yield "user", principal.subject


class _QuietPolls(logging.Filter):
    """httpx logs every request at INFO; a poll every few seconds would drown the log, so its answered
    polls are dropped (a failing one still shows, and the feed logs its own warning)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and str(args[1]) == self.url:
            return args[3] not in (200, 304)
        return True


class RevocationFeed:
    """Identity's revocation list, polled in the background (`start`/`aclose`); `latest()` for requests."""

    def __init__(
        self,
        *,
        url: str | None = None,
        token_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        fetch: Fetcher | None = None,
        interval: float = 5.0,
        timeout: float = 5.0,
        first_fetch_retry: float = FIRST_FETCH_RETRY,
    ) -> None:
        if fetch is None and not (url and token_url and client_id and client_secret):
            raise ValueError("give the list's url, the token url and client credentials, or a fetch callable")
        self.interval = interval
        self.first_fetch_retry = first_fetch_retry
        self.current = Revocations()
        self.loaded_at: float | None = None  # time.monotonic() of the last successful fetch
        self._fetch = fetch or self._fetch_over_http
        self._url, self._token_url = url, token_url
        self._credentials = (client_id or "", client_secret or "")
        self._timeout = timeout
        self._http: httpx.AsyncClient | None = None
        self._token: str | None = None
        self._token_until = 0.0
        self._document: Mapping[str, Any] | None = None  # the one `current` was parsed from
        self._cached: tuple[str | None, Mapping[str, Any]] | None = None  # the last (ETag, list) fetched
        self._attempted_at = -math.inf
        self._failing_since: float | None = None
        self._logged_at = -math.inf
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._quiet = _QuietPolls(url) if url else None

    def age(self) -> float:
        """Seconds since the list was last fetched; infinite before the first fetch."""
        return math.inf if self.loaded_at is None else time.monotonic() - self.loaded_at

    async def refresh(self) -> None:
        """Fetch the list once; raises when identity cannot be reached or answers nonsense."""
        document = await self._fetch()
        if document is not self._document:  # a 304 hands back the document already parsed
            self.current = Revocations.from_document(document)
            self._document = document
        self.loaded_at = time.monotonic()

    async def latest(self) -> Revocations:
        """The list to check a request against; waits for a first fetch if none has succeeded yet."""
        if self.loaded_at is None:
            async with self._lock:
                if self.loaded_at is None and time.monotonic() - self._attempted_at >= self.first_fetch_retry:
                    await self._attempt()
            if self.loaded_at is None:
                raise Unauthorized("cannot reach the token issuer's revocation list")
        return self.current

    def start(self) -> None:
        if self._quiet is not None:
            logging.getLogger("httpx").addFilter(self._quiet)
        self._task = asyncio.create_task(self._poll(), name="token-revocations")

    async def aclose(self) -> None:
        if self._quiet is not None:
            logging.getLogger("httpx").removeFilter(self._quiet)
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _poll(self) -> None:
        while True:
            async with self._lock:
                await self._attempt()
            await asyncio.sleep(self.interval)

    async def _attempt(self) -> None:
        now = self._attempted_at = time.monotonic()
        try:
            await self.refresh()
        except Exception as exc:  # keep polling whatever went wrong; the last list stays in force
            if self._failing_since is None:
                self._failing_since = now
            if now - self._logged_at >= LOG_EVERY:
                self._logged_at = now
                age = self.age()
                log.warning(
                    "token_revocations_unreachable",
                    error=f"{type(exc).__name__}: {exc}"[:300],
                    list_age_seconds=None if math.isinf(age) else round(age, 1),
                )
            return
        if self._failing_since is not None:
            log.info("token_revocations_reachable", after_seconds=round(now - self._failing_since, 1))
            self._failing_since, self._logged_at = None, -math.inf

    async def _fetch_over_http(self) -> Mapping[str, Any]:
        assert self._url is not None
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout)
        response = await self._get_list(self._http)
        if response.status_code == 401:
            self._token = None  # ended early (identity restarted with a new key, say): get another
            response = await self._get_list(self._http)
        if response.status_code == 304 and self._cached is not None:
            return self._cached[1]
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        self._cached = (response.headers.get("ETag"), document)
        return document

    async def _get_list(self, http: httpx.AsyncClient) -> httpx.Response:
        assert self._url is not None
        headers = {"Authorization": f"Bearer {await self._access_token(http)}"}
        if self._cached is not None and self._cached[0] is not None:
            headers["If-None-Match"] = self._cached[0]
        return await http.get(self._url, headers=headers)

    async def _access_token(self, http: httpx.AsyncClient) -> str:
        if self._token is not None and time.monotonic() < self._token_until:
            return self._token
        assert self._token_url is not None
        response = await http.post(
            self._token_url,
            data={"grant_type": "client_credentials", "scope": REVOCATIONS_SCOPE},
            auth=self._credentials,
        )
        response.raise_for_status()
        body = response.json()
        self._token = str(body["access_token"])
        # Renew a minute early, so a poll never presents a token about to expire.
        self._token_until = time.monotonic() + max(float(body.get("expires_in", 60)) - 60, 0)
        return self._token


class _ListAge(Collector):
    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        verifier: TokenVerifier | None = getattr(self.app.state, "token_verifier", None)
        feed = verifier.revocations if verifier is not None else None
        if feed is not None:
            yield GaugeMetricFamily(
                "effekt_token_revocations_age_seconds",
                "Seconds since this process last fetched identity's revocation list (+Inf: never).",
                value=feed.age(),
            )


def feed_from_settings(settings: AppSettings) -> RevocationFeed | None:
    """The feed a process's settings call for; None for identity, and outside production without a client."""
    if not settings.polls_revocations:
        return None
    client_id, secret = settings.revocations_client_id, settings.revocations_client_secret
    if not client_id or secret is None:
        if settings.production:
            prefix = settings.model_config.get("env_prefix", "")
            raise InsecureConfiguration(
                "refusing to start in production without a client for identity's revocation list: set "
                f"{prefix}REVOCATIONS_CLIENT_ID and {prefix}REVOCATIONS_CLIENT_SECRET (docs/identity.md)"
            )
        log.warning("token_revocations_off", reason="no revocations client configured")
        return None
    return RevocationFeed(
        url=settings.revocations_url,
        token_url=settings.token_url,
        client_id=client_id,
        client_secret=secret.get_secret_value(),
        interval=settings.revocations_poll_seconds,
    )


@asynccontextmanager
async def token_verification(app: FastAPI, settings: AppSettings) -> AsyncIterator[TokenVerifier]:
    """`app.state.token_verifier` for the app's lifespan, with its revocation feed polling meanwhile."""
    feed = feed_from_settings(settings)
    verifier = TokenVerifier(
        issuer=settings.issuer, audience=settings.audience, jwks_url=settings.jwks_url, revocations=feed
    )
    app.state.token_verifier = verifier
    metrics = getattr(app.state, "metrics", None)
    if metrics is not None and not getattr(app.state, "revocation_age_exported", False):
        metrics.registry.register(_ListAge(app))
        app.state.revocation_age_exported = True
    if feed is not None:
        feed.start()
    try:
        yield verifier
    finally:
        if feed is not None:
            await feed.aclose()


def revocation_list_age(app: FastAPI) -> dict[str, Any]:
    """`/readyz`'s report of how old the process's revocation list is (None before the first arrived)."""
    verifier: TokenVerifier | None = getattr(app.state, "token_verifier", None)
    if verifier is None or verifier.revocations is None:
        return {}
    age = verifier.revocations.age()
    return {"token_revocations": {"age_seconds": None if age == float("inf") else round(age, 1)}}
