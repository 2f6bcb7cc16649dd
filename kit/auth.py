"""The access-token contract and its verification.

Identity signs RS256/ES256 JWTs; everyone else verifies them against identity's JWKS (cached, refreshed
when an unknown `kid` appears, at most every `min_refresh` seconds, and at least every `max_age` seconds so
a key identity retires stops verifying within minutes everywhere). Claims beyond the registered ones:

    org_id, partner_type, org_role (users), municipality_code (municipalities), scope (space-separated),
    client_id, sub_type ("user" | "client"), memberships: [{"partnership_id": ..., "role": ...}],
    epochs: {"organisation": n, "client": n, "user": n (users)},
    sid (users' tokens): the sign-in the token came from, i.e. its refresh-token family

`partner_type` and `memberships[].role` take the values in kit/partners.py.

`epochs` are the token epochs of the token's organisation, client and user when it was issued; with the
`jti` and the `sid` they let identity's revocation list (kit/revocations.py) refuse a token before it
expires: one token (`jti`), every token of one sign-in (`sid`: a replayed refresh token or a code redeemed
twice ends the whole sign-in), or every token of a subject (`epochs`).
`Principal` is that contract as one typed object; endpoints receive it through `CurrentPrincipal`.

A verified token is remembered (keyed by the token itself, at most `cache_size` of them, least recently
used out first) until its `exp`, so a client's next request skips the signature check, about half of a
write's CPU. What can change meanwhile is still checked on every hit: the signing key must still be in
the JWKS (a retired key's tokens stop verifying as before) and the revocation list is applied afresh.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

import httpx
import structlog
from fastapi import Depends, Request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from kit.problems import Forbidden, Unauthorized
from kit.rows import bind_partnerships

if TYPE_CHECKING:
    from kit.revocations import RevocationFeed

ALLOWED_ALGORITHMS = ("RS256", "ES256")
# Verified tokens remembered per process: a few thousand callers' current tokens, a few MB at most.
TOKEN_CACHE_SIZE = 4096

JwksFetcher = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user or a machine client, acting for one organisation."""

    subject: str
    kind: Literal["user", "client"]
    organisation_id: UUID
    partner_type: str
    scopes: frozenset[str]
    memberships: Mapping[UUID, frozenset[str]] = field(default_factory=dict)
    org_role: str | None = None
    municipality_code: str | None = None
    client_id: str | None = None
    token_id: str | None = None
    expires_at: int | None = None
    # The token epochs it was issued under, by kind of subject ("organisation", "client", "user").
    epochs: Mapping[str, int] = field(default_factory=dict)
    # The sign-in (refresh-token family) a user's token was issued from: claim `sid`.
    session_id: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.partner_type == "operator"

    @property
    def user_id(self) -> UUID | None:
        return UUID(self.subject) if self.kind == "user" else None

    def roles_in(self, partnership_id: UUID) -> frozenset[str]:
        return self.memberships.get(partnership_id, frozenset())

    def is_member(self, partnership_id: UUID) -> bool:
        return bool(self.roles_in(partnership_id))

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this token lacks the `{scope}` scope", required_scope=scope)

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Principal:
        memberships: dict[UUID, set[str]] = {}
        for item in claims.get("memberships") or []:
            memberships.setdefault(UUID(item["partnership_id"]), set()).add(item["role"])
        kind = claims.get("sub_type", "user")
        if kind not in ("user", "client"):
            raise ValueError("sub_type")
        epochs = claims.get("epochs") or {}
        if not isinstance(epochs, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in epochs.values()
        ):
            raise ValueError("epochs")
        session_id = claims.get("sid")
        if session_id is not None and not isinstance(session_id, str):
            raise ValueError("sid")
        return cls(
            subject=str(claims["sub"]),
            kind=kind,
            organisation_id=UUID(claims["org_id"]),
            partner_type=str(claims["partner_type"]),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            memberships={pid: frozenset(roles) for pid, roles in memberships.items()},
            org_role=claims.get("org_role"),
            municipality_code=claims.get("municipality_code"),
            client_id=claims.get("client_id"),
            token_id=claims.get("jti"),
            expires_at=claims.get("exp"),
            epochs={str(k): v for k, v in epochs.items()},
            session_id=session_id,
        )


def _unverified_header(token: str) -> dict[str, Any]:
    try:
        segment = token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, IndexError) as exc:
        raise Unauthorized("malformed token") from exc
    if not isinstance(header, dict):
        raise Unauthorized("malformed token")
    return header


class TokenVerifier:
    """Verifies Effekt access tokens against a JWKS and, given a `RevocationFeed`, identity's revocation
    list; safe to share across requests."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        fetch_jwks: JwksFetcher | None = None,
        min_refresh: float = 10.0,
        max_age: float = 300.0,
        leeway: int = 30,
        revocations: RevocationFeed | None = None,
        cache_size: int = TOKEN_CACHE_SIZE,
    ) -> None:
        if fetch_jwks is None and jwks_url is None:
            raise ValueError("give a jwks_url or a fetch_jwks callable")
        self.issuer = issuer
        self.audience = audience
        self._jwks_url = jwks_url
        self._fetch = fetch_jwks or self._fetch_over_http
        self._keys: KeySet | None = None
        self._kids: set[str] = set()
        self._fetched_at = 0.0
        self._min_refresh = min_refresh
        self._max_age = max_age
        self._refreshing = asyncio.Lock()
        self.revocations = revocations
        # token -> (its principal, the key id that signed it), in least-recently-used order.
        self._verified: OrderedDict[str, tuple[Principal, str]] = OrderedDict()
        self._cache_size = cache_size
        self._registry = jwt.JWTClaimsRegistry(
            leeway=leeway,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            jti={"essential": True},
        )

    async def _fetch_over_http(self) -> dict[str, Any]:
        assert self._jwks_url is not None
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(self._jwks_url)
            response.raise_for_status()
            data: dict[str, Any] = response.json()
            return data

    async def _refresh(self) -> None:
        data = await self._fetch()
        self._keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
        self._kids = {k["kid"] for k in data.get("keys", []) if "kid" in k}
        self._fetched_at = time.monotonic()

    def _needs_refresh(self, kid: str) -> bool:
        age = time.monotonic() - self._fetched_at
        return (
            self._keys is None or age >= self._max_age or (kid not in self._kids and age >= self._min_refresh)
        )

    async def _key_set_for(self, kid: str) -> KeySet:
        if self._needs_refresh(kid):
            # One fetch at a time: requests that arrive meanwhile wait for it instead of stampeding.
            async with self._refreshing:
                if self._needs_refresh(kid):
                    try:
                        await self._refresh()
                    except (httpx.HTTPError, ValueError) as exc:
                        if self._keys is None:
                            raise Unauthorized("cannot reach the token issuer's keys") from exc
                        # Keep serving the keys we have; try again after `min_refresh`.
                        self._fetched_at = time.monotonic() - self._max_age + self._min_refresh
        if self._keys is None or kid not in self._kids:
            raise Unauthorized("token signed by an unknown key")
        return self._keys

    async def verify(self, token: str) -> Principal:
        principal = await self._remembered(token) or await self._verify_signed(token)
        if self.revocations is not None:
            reason = (await self.revocations.latest()).refusal(principal)
            if reason is not None:
                raise Unauthorized(reason)
        return principal

    async def _remembered(self, token: str) -> Principal | None:
        """The principal of a token verified before, while it has not expired and its key is published."""
        hit = self._verified.get(token)
        if hit is None:
            return None
        principal, kid = hit
        if principal.expires_at is None or time.time() >= principal.expires_at:
            # Past `exp` the full check decides (with its leeway), and drops it from here for good.
            del self._verified[token]
            return None
        try:
            await self._key_set_for(kid)
        except Unauthorized:
            self._verified.pop(token, None)
            raise
        if token in self._verified:  # another request may have pushed it out meanwhile
            self._verified.move_to_end(token)
        return principal

    async def _verify_signed(self, token: str) -> Principal:
        header = _unverified_header(token)
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALLOWED_ALGORITHMS:
            raise Unauthorized(f"token algorithm {alg!r} is not accepted")
        if not isinstance(kid, str):
            raise Unauthorized("token has no key id")
        keys = await self._key_set_for(kid)
        try:
            decoded = jwt.decode(token, keys, algorithms=list(ALLOWED_ALGORITHMS))
            self._registry.validate(decoded.claims)
            principal = Principal.from_claims(decoded.claims)
        except JoseError as exc:
            raise Unauthorized(f"invalid token: {exc.error}") from exc
        except (KeyError, ValueError, TypeError) as exc:
            raise Unauthorized("token lacks Effekt's claims") from exc
        if principal.expires_at is not None and time.time() < principal.expires_at and self._cache_size > 0:
            self._verified[token] = (principal, kid)
            if len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        return principal

    def refusal(self, principal: Principal) -> str | None:
        """Why a principal verified earlier no longer holds (its token was revoked or superseded since),
        or None: for streams that outlive the request that verified their token."""
        if self.revocations is None:
            return None
        return self.revocations.current.refusal(principal)


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an access token as `Authorization: Bearer <token>`")
    return token.strip()


async def get_principal(request: Request) -> Principal:
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = await verifier.verify(bearer_token(request))
    request.state.principal = principal
    # The row policies' backstop: this request's transactions touch only the caller's partnerships' rows
    # (every partnership's for the operator, whose rules span them), kit/rows.py.
    bind_partnerships(
        principal.memberships, every=principal.is_operator, organisation_id=principal.organisation_id
    )
    structlog.contextvars.bind_contextvars(
        org_id=str(principal.organisation_id), sub_type=principal.kind, client_id=principal.client_id
    )
    return principal


# What an operation's dependencies require of its token, read by the OpenAPI document (kit/app.py) from the
# very dependencies that enforce it, so the documented `security` cannot drift from the check: each
# marked dependency holds alternatives, any one of which suffices, each a set of scopes needed together.
REQUIRED_SCOPES = "__effekt_required_scopes__"
ScopeAlternatives = tuple[frozenset[str], ...]


def requires(*alternatives: frozenset[str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a dependency as demanding a verified token holding one of `alternatives`."""

    def mark(dependency: Callable[..., Any]) -> Callable[..., Any]:
        setattr(dependency, REQUIRED_SCOPES, alternatives)
        return dependency

    return mark


def required_scopes(dependency: object) -> ScopeAlternatives | None:
    value = getattr(dependency, REQUIRED_SCOPES, None)
    return value if isinstance(value, tuple) else None


requires(frozenset())(get_principal)
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def scoped(scope: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller, who must hold `scope`."""

    @requires(frozenset({scope}))
    async def dependency(principal: CurrentPrincipal) -> Principal:
        principal.require_scope(scope)
        return principal

    return dependency


def scoped_any(*scopes: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller, who must hold at least one of `scopes`."""

    @requires(*(frozenset({s}) for s in scopes))
    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not any(principal.has_scope(s) for s in scopes):
            names = " or ".join(f"`{s}`" for s in scopes)
            raise Forbidden(f"this token lacks the {names} scope", required_scope=scopes[0])
        return principal

    return dependency
