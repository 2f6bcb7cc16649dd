"""authlib's grants and token endpoints, bound to Effekt's tables.

Each takes the per-request server's synchronous session (`server.session`, see `server.py`). Codes and
refresh tokens are stored as keyed hashes and locked `FOR UPDATE` when redeemed, so two concurrent uses
of one cannot both succeed; a second use revokes the family of tokens the first one issued.
"""

from __future__ import annotations

import hmac
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from authlib.oauth2 import OAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7009 import RevocationEndpoint as BaseRevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as BaseIntrospectionEndpoint
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from services.identity.credentials import hash_secret
from services.identity.models import (
    AuthorizationCode,
    OAuthClient,
    Organisation,
    RefreshToken,
    RevokedFamily,
    RevokedToken,
    User,
)
from services.identity.oauth.scopes import SCOPES, SERVICE_SCOPES, USER_ONLY_SCOPES

if TYPE_CHECKING:
    from services.identity.oauth.server import AuthorizationServer


# --- the objects authlib works with -----------------------------------------------------------------------


class Client(ClientMixin):  # type: ignore[misc]
    def __init__(self, row: OAuthClient, hash_key: bytes) -> None:
        self.row = row
        self._hash_key = hash_key

    @property
    def client_id(self) -> str:
        return self.row.client_id

    @property
    def confidential(self) -> bool:
        return self.row.client_type == "confidential"

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.row.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return " ".join(self.row.scopes)
        allowed = set(self.row.scopes)
        return " ".join(s for s in scope_to_list(scope) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.row.secret_hash
        return stored is not None and hmac.compare_digest(hash_secret(self._hash_key, client_secret), stored)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.confidential:
            return method in ("client_secret_basic", "client_secret_post")
        # A public client holds no secret: it may redeem codes, refresh and revoke, never introspect.
        return method == "none" and endpoint in ("token", "revocation")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.row.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.row.grant_types


@dataclass
class Code:
    row: AuthorizationCode

    @property
    def code_challenge(self) -> str:
        return self.row.code_challenge

    @property
    def code_challenge_method(self) -> str:
        return self.row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope


@dataclass
class Refresh:
    row: RefreshToken

    def check_client(self, client: Client) -> bool:
        return self.row.client_id == client.client_id

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int((self.row.expires_at - self.row.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.row.expires_at <= datetime.now(UTC)

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None or self.row.used_at is not None


@dataclass
class Access:
    """A verified access token (a JWT this server signed), for introspection and revocation."""

    claims: dict[str, Any]
    revoked: bool

    def check_client(self, client: Client) -> bool:
        return bool(self.claims.get("client_id") == client.client_id)

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def is_expired(self) -> bool:
        return int(self.claims["exp"]) <= int(time.time())

    def is_revoked(self) -> bool:
        return self.revoked


def check_scope(scope: str | None, client: Client) -> None:
    """Refuse, rather than silently narrow, a scope the client may not have."""
    requested = set(scope_to_list(scope) or [])
    unknown = requested - set(SCOPES) - SERVICE_SCOPES
    if unknown:
        raise InvalidScopeError(description=f"unknown scope: {' '.join(sorted(unknown))}")
    not_allowed = requested - set(client.row.scopes)
    if not_allowed:
        raise InvalidScopeError(
            description=f"scope not allowed for this client: {' '.join(sorted(not_allowed))}"
        )


def active_user(session: Session, user_id: uuid.UUID) -> User | None:
    """The user a grant is for, unless disabled since it signed in (authlib then refuses the grant)."""
    user = session.get(User, user_id)
    return user if user is not None and user.disabled_at is None else None


def revoke_family(session: Session, family_id: uuid.UUID) -> None:
    """End a sign-in: its refresh tokens, and (through the revocation list) every access token carrying
    its `sid`, at identity at once and elsewhere within a poll."""
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    session.execute(
        insert(RevokedFamily)
        .values(family_id=family_id, revoked_at=func.now())
        .on_conflict_do_update(index_elements=[RevokedFamily.family_id], set_={"revoked_at": func.now()})
    )


# --- grants -----------------------------------------------------------------------------------------------


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_requested_scope(self) -> None:
        check_scope(self.request.payload.scope, self.request.client)
        person_only = set(scope_to_list(self.request.payload.scope) or []) & USER_ONLY_SCOPES
        if person_only:
            raise InvalidScopeError(
                description=f"a machine client cannot hold: {' '.join(sorted(person_only))}"
            )


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    server: AuthorizationServer

    def validate_requested_scope(self) -> None:
        check_scope(self.request.payload.scope, self.request.client)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.server.session.add(
            AuthorizationCode(
                code_hash=hash_secret(self.server.issuance.hash_key, code),
                client_id=request.client.client_id,
                user_id=request.user.id,
                redirect_uri=request.payload.redirect_uri or "",
                scope=request.scope,
                nonce=data.get("nonce"),
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                expires_at=datetime.now(UTC)
                + timedelta(seconds=self.server.issuance.authorization_code_lifetime),
            )
        )
        self.server.session.flush()

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        session = self.server.session
        row = session.scalars(
            select(AuthorizationCode)
            .where(AuthorizationCode.code_hash == hash_secret(self.server.issuance.hash_key, code))
            .with_for_update()
        ).one_or_none()
        if row is None or row.client_id != client.client_id:
            return None
        if row.used_at is not None:
            # RFC 6749 §4.1.2: a code used twice was stolen; revoke what its first use issued.
            revoke_family(session, row.family_id)
            return None
        if row.expires_at <= datetime.now(UTC):
            return None
        self.request.family_id = row.family_id
        self.request.nonce = row.nonce
        self.request.auth_time = int(row.created_at.timestamp())
        return Code(row)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        authorization_code.row.used_at = datetime.now(UTC)
        self.server.session.flush()

    def authenticate_user(self, authorization_code: Code) -> User | None:
        return active_user(self.server.session, authorization_code.row.user_id)


class RequiredS256(CodeChallenge):  # type: ignore[misc]
    """PKCE for every client, and only with S256 (`plain` protects nothing)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: grants.BaseGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send a code_challenge")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: AuthorizationServer

    def authenticate_refresh_token(self, refresh_token: str) -> Refresh | None:
        session = self.server.session
        row = session.scalars(
            select(RefreshToken)
            .where(RefreshToken.token_hash == hash_secret(self.server.issuance.hash_key, refresh_token))
            .with_for_update()
        ).one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        if row.used_at is not None:
            # A rotated-away token came back: someone holds a copy. End the whole family.
            revoke_family(session, row.family_id)
            return None
        if row.expires_at <= datetime.now(UTC):
            return None
        self.request.family_id = row.family_id
        return Refresh(row)

    def authenticate_user(self, refresh_token: Refresh) -> User | None:
        return active_user(self.server.session, refresh_token.row.user_id)

    def revoke_old_credential(self, refresh_token: Refresh) -> None:
        refresh_token.row.used_at = datetime.now(UTC)
        self.server.session.flush()


# --- introspection and revocation -------------------------------------------------------------------------


def find_token(server: AuthorizationServer, token: str, hint: str | None) -> Access | Refresh | None:
    if hint != "refresh_token" and token.count(".") == 2:
        access = server.verify_access_token(token)
        if access is not None or hint == "access_token":
            return access
    row = server.session.scalars(
        select(RefreshToken)
        .where(RefreshToken.token_hash == hash_secret(server.issuance.hash_key, token))
        .with_for_update()
    ).one_or_none()
    return Refresh(row) if row is not None else None


class IntrospectionEndpoint(BaseIntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
    server: AuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> Access | Refresh | None:
        return find_token(self.server, token_string, token_type_hint)

    def check_permission(self, token: Access | Refresh, client: Client, request: OAuth2Request) -> bool:
        # The operator's clients (resource servers) may introspect any token; other clients only their own.
        if token.check_client(client):
            return True
        owner = self.server.session.get_one(Organisation, client.row.organisation_id)
        return owner.partner_type == "operator"

    def introspect_token(self, token: Access | Refresh) -> dict[str, Any]:
        if isinstance(token, Access):
            payload = {k: v for k, v in token.claims.items() if k != "memberships"}
            payload["memberships"] = token.claims.get("memberships", [])
            payload["token_type"] = "Bearer"  # noqa: S105 - a token type, not a secret
            return payload
        row = token.row
        return {
            "active": True,
            "token_type": "refresh_token",
            "client_id": row.client_id,
            "scope": row.scope,
            "sub": str(row.user_id),
            "iss": self.server.issuance.issuer,
            "exp": int(row.expires_at.timestamp()),
            "iat": int(row.issued_at.timestamp()),
        }


class RevocationEndpoint(BaseRevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    server: AuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> Access | Refresh | None:
        return find_token(self.server, token_string, token_type_hint)

    def revoke_token(self, token: Access | Refresh, request: OAuth2Request) -> None:
        session = self.server.session
        if isinstance(token, Access):
            session.merge(
                RevokedToken(
                    jti=token.claims["jti"], expires_at=datetime.fromtimestamp(token.claims["exp"], UTC)
                )
            )
        else:
            # Revoking a refresh token ends the grant: its whole rotation family.
            revoke_family(session, token.row.family_id)
        session.flush()
