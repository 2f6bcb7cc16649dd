"""authlib's OAuth2 server core, glued to FastAPI.

authlib has no Starlette server integration and its core is synchronous, so the route reads the form
first, builds an `OAuth2Request` from it, and runs the server with `AsyncSession.run_sync`: authlib's hooks
get the request's own session in its synchronous form (SQLAlchemy drives asyncpg through a greenlet), so
the token endpoint's reads and writes share the request's single transaction and no second driver or
thread pool is needed. Everything authlib touches is database I/O or cheap CPU (RS256 signing, keyed
SHA-256); password hashing never runs here.

A server is built per request (`AuthorizationServer(session, issuance)`), as polar does: it holds that
request's session and signer.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oauth2 import AuthorizationServer as BaseAuthorizationServer
from authlib.oauth2 import OAuth2Request
from authlib.oauth2.rfc6749 import JsonRequest, OAuth2Payload
from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import select
from sqlalchemy.orm import Session

from kit.auth import Principal
from services.identity.credentials import hash_secret, mint_secret
from services.identity.models import Membership, OAuthClient, Organisation, RefreshToken, User
from services.identity.oauth.grants import (
    Access,
    AuthorizationCodeGrant,
    Client,
    ClientCredentialsGrant,
    IntrospectionEndpoint,
    RefreshTokenGrant,
    RequiredS256,
    RevocationEndpoint,
)
from services.identity.oauth.keys import Signer, published_key_set_sync
from services.identity.oauth.scopes import SCOPES, USER_ONLY_SCOPES
from services.identity.revocations.service import standing_of


@dataclass(frozen=True)
class Issuance:
    """What a per-request server needs besides the request: where tokens come from and how long they live."""

    issuer: str
    audience: str
    signer: Signer
    hash_key: bytes
    access_token_lifetime: int
    refresh_token_lifetime: int
    authorization_code_lifetime: int


# --- requests ---------------------------------------------------------------------------------------------


class FormPayload(OAuth2Payload):  # type: ignore[misc]
    """The OAuth parameters of a request, from its query (GET) or form (POST), keeping repeated keys."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._data = dict(reversed(pairs))  # the first value wins, as with every other framework
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class FormRequest(OAuth2Request):  # type: ignore[misc]
    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self._args = dict(reversed(query))
        self._form = dict(reversed(form))
        self.payload = FormPayload(form if method == "POST" else query)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


# --- the server -------------------------------------------------------------------------------------------


class AuthorizationServer(BaseAuthorizationServer):  # type: ignore[misc]
    def __init__(self, session: Session, issuance: Issuance) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.session = session
        self.issuance = issuance
        self.request: OAuth2Request | None = None
        self.register_token_generator("default", self.generate_bearer_token)
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(AuthorizationCodeGrant, [RequiredS256(required=True)])
        self.register_grant(RefreshTokenGrant)
        self.register_endpoint(IntrospectionEndpoint)
        self.register_endpoint(RevocationEndpoint)

    # authlib's framework hooks
    def query_client(self, client_id: str) -> Client | None:
        row = self.session.scalars(
            select(OAuthClient).where(OAuthClient.client_id == client_id, OAuthClient.disabled_at.is_(None))
        ).one_or_none()
        return Client(row, self.issuance.hash_key) if row is not None else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        refresh = token.get("refresh_token")
        if not refresh:
            return
        now = datetime.now(UTC)
        self.session.add(
            RefreshToken(
                token_hash=hash_secret(self.issuance.hash_key, refresh),
                family_id=getattr(request, "family_id", None) or uuid.uuid4(),
                client_id=request.client.client_id,
                user_id=request.user.id,
                scope=token["scope"],
                issued_at=now,
                expires_at=now + timedelta(seconds=self.issuance.refresh_token_lifetime),
            )
        )
        self.session.flush()

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        self.request = request
        return request

    def create_json_request(self, request: OAuth2Request) -> JsonRequest:
        """authlib's JSON-endpoint hook; our endpoints are all form-encoded, so adapt the same request."""
        return JsonRequest(request.method, request.uri, request.headers)

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> tuple[int, Any, Any]:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    # tokens
    def claims_for(self, client: Client, user: User | None, scope: str) -> dict[str, Any]:
        """The access token's claims: the contract in `kit.auth`.

        Each token epoch is read in one statement with what it guards (the client's and the user's own
        rows, the organisation with its memberships), so a token that saw a change carries the epoch the
        change left, and one that missed it carries an epoch the change superseded: refused, never trusted
        with stale claims."""
        org_id = user.organisation_id if user is not None else client.row.organisation_id
        rows = self.session.execute(
            select(
                Organisation.partner_type,
                Organisation.municipality_code,
                Organisation.token_epoch,
                Membership.partnership_id,
                Membership.role,
            )
            .outerjoin(Membership, Membership.organisation_id == Organisation.id)
            .where(Organisation.id == org_id)
            .order_by(Membership.partnership_id, Membership.role)
        ).all()
        if not rows:
            raise LookupError(f"no organisation {org_id}")
        partner_type, municipality_code, org_epoch = rows[0][:3]
        memberships = [(row.partnership_id, row.role) for row in rows if row.partnership_id is not None]
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuance.issuer,
            "aud": self.issuance.audience,
            "iat": now,
            "exp": now + self.issuance.access_token_lifetime,
            "jti": uuid.uuid4().hex,
            "sub": str(user.id) if user is not None else client.client_id,
            "sub_type": "user" if user is not None else "client",
            "org_id": str(org_id),
            "partner_type": partner_type,
            "scope": scope,
            "client_id": client.client_id,
            "memberships": [{"partnership_id": str(pid), "role": role} for pid, role in memberships],
            "epochs": {"organisation": org_epoch, "client": client.row.token_epoch},
        }
        if user is not None:
            claims["org_role"] = user.org_role
            claims["epochs"]["user"] = user.token_epoch
            # The sign-in: the code's family, kept by every refresh from it, so ending it ends them all.
            family_id = getattr(self.request, "family_id", None)
            if family_id is not None:
                claims["sid"] = str(family_id)
        if municipality_code is not None:
            claims["municipality_code"] = municipality_code
        return claims

    def id_token_for(self, client: Client, user: User, scope: str, access_claims: dict[str, Any]) -> str:
        scopes = set(scope.split())
        claims: dict[str, Any] = {
            "iss": self.issuance.issuer,
            "aud": client.client_id,
            "sub": str(user.id),
            "iat": access_claims["iat"],
            "exp": access_claims["exp"],
            "org_id": access_claims["org_id"],
        }
        # Known when a code is redeemed (the user signed in just before); a refresh repeats neither.
        auth_time = getattr(self.request, "auth_time", None)
        if auth_time is not None:
            claims["auth_time"] = auth_time
        nonce = getattr(self.request, "nonce", None)
        if nonce:
            claims["nonce"] = nonce
        # The sign-in, so that RP-initiated logout (`oauth/logout.py`) knows which tokens to end.
        if "sid" in access_claims:
            claims["sid"] = access_claims["sid"]
        claims.update(userinfo_claims(user, scopes))
        return self.issuance.signer.sign(claims)

    def generate_bearer_token(
        self,
        grant_type: str,
        client: Client,
        user: User | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        scope = scope or client.get_allowed_scope(None)
        if user is None:
            # A machine acts for its organisation; person-only scopes make no sense for it.
            scope = " ".join(s for s in scope.split() if s not in USER_ONLY_SCOPES)
        claims = self.claims_for(client, user, scope)
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": self.issuance.signer.sign(claims),
            "expires_in": self.issuance.access_token_lifetime,
            "scope": scope,
        }
        scopes = set(scope.split())
        if user is not None and include_refresh_token and "offline_access" in scopes:
            token["refresh_token"] = mint_secret()
        if user is not None and "openid" in scopes:
            token["id_token"] = self.id_token_for(client, user, scope, claims)
        return token

    def verify_access_token(self, token: str) -> Access | None:
        """An access token this server signed with a key it still publishes, or None."""
        keys = published_key_set_sync(self.session)
        try:
            decoded = jwt.decode(token, keys, algorithms=["RS256"])
        except (JoseError, ValueError):
            return None
        claims = dict(decoded.claims)
        if claims.get("iss") != self.issuance.issuer or "jti" not in claims or "exp" not in claims:
            return None
        try:
            principal = Principal.from_claims(claims)
        except (KeyError, ValueError, TypeError):
            return None
        revoked, superseded = self.session.execute(select(*standing_of(principal))).one()
        return Access(claims, bool(revoked or superseded))


def userinfo_claims(user: User, scopes: set[str]) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    if "profile" in scopes:
        claims["name"] = user.display_name
        claims["org_role"] = user.org_role
    if "email" in scopes:
        claims["email"] = user.email
        claims["email_verified"] = False
    return claims
