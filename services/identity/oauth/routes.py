"""The OAuth2/OIDC endpoints (RFC 6749 errors) and the operators' signing-key API (RFC 9457 errors).

Each OAuth route reads the whole request first, then runs authlib inside `session.run_sync` (see
`server.py`), then turns authlib's `(status, body, headers)` into a response.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.util import scope_to_list
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from kit.db import DbSession
from kit.problems import problem_responses
from services.identity.audit import record
from services.identity.dependencies import Caller, CurrentSettings, Keys, OpenIdCaller, PartnerWriter
from services.identity.directory.schemas import SigningKeyRead
from services.identity.directory.service import require_operator
from services.identity.models import Organisation, User
from services.identity.oauth import keys as signing_keys
from services.identity.oauth.login import SignInRules, log_in
from services.identity.oauth.logout import SignOut, end_sign_in
from services.identity.oauth.pages import (
    CARRIED,
    CSRF_COOKIE,
    Language,
    choose_language,
    error_page,
    expired_page,
    login_page,
    signed_out_page,
)
from services.identity.oauth.scopes import GRANT_TYPES, SCOPES
from services.identity.oauth.server import AuthorizationServer, FormRequest, Issuance, userinfo_claims
from services.identity.origins import registered_origins
from services.identity.settings import Settings

router = APIRouter(tags=["oauth2"])
keys_router = APIRouter(prefix="/v1", tags=["signing keys"])

T = TypeVar("T")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(BaseModel):
    """An RFC 6749 §5.2 error: OAuth clients expect this shape, so these endpoints do not use problem+json."""

    error: str
    error_description: str | None = None


_OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": "An RFC 6749 error", "model": OAuthError} for status in (400, 401)
}
# The authorisation endpoint talks to a person in a browser: errors it cannot redirect are an HTML page.
_PAGE = {"text/html": {"schema": {"type": "string"}}}
_PAGE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The request cannot be completed (an HTML page)", "content": _PAGE},
    403: {"description": "The sign-in form expired (an HTML page)", "content": _PAGE},
}


async def _issuance(request: Request, session: AsyncSession) -> Issuance:
    settings: Settings = request.app.state.settings
    ring: signing_keys.SigningKeys = request.app.state.signing_keys
    return Issuance(
        issuer=settings.issuer,
        audience=settings.audience,
        signer=await ring.signer(session),
        hash_key=request.app.state.hash_key,
        access_token_lifetime=settings.access_token_lifetime,
        refresh_token_lifetime=settings.refresh_token_lifetime,
        authorization_code_lifetime=settings.authorization_code_lifetime,
    )


async def _run(request: Request, session: AsyncSession, work: Callable[[AuthorizationServer], T]) -> T:
    """Run authlib with the request's session in its synchronous form."""
    issuance = await _issuance(request, session)

    def call(sync_session: Session) -> T:
        return work(AuthorizationServer(sync_session, issuance))

    return await session.run_sync(call)


async def _form_request(request: Request) -> FormRequest:
    form = await request.form()
    pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    return FormRequest(
        "POST",
        str(request.url),
        request.headers,
        list(request.query_params.multi_items()),
        pairs,
    )


def _oauth_response(result: tuple[int, Any, Any]) -> Response:
    status, body, headers = result
    merged = {**dict(headers or []), **_NO_STORE}
    merged.pop("Content-Type", None)
    return JSONResponse(body, status_code=status, headers=merged)


@router.post("/oauth2/token", summary="Token endpoint (RFC 6749 §3.2)", responses=_OAUTH_ERRORS)
async def issue_token(request: Request, session: DbSession) -> Response:
    """Client credentials, authorisation code (PKCE S256) and refresh token grants."""
    oauth_request = await _form_request(request)
    return _oauth_response(await _run(request, session, lambda s: s.create_token_response(oauth_request)))


@router.post("/oauth2/introspect", summary="Token introspection (RFC 7662)", responses=_OAUTH_ERRORS)
async def introspect_token(request: Request, session: DbSession) -> Response:
    oauth_request = await _form_request(request)
    return _oauth_response(
        await _run(request, session, lambda s: s.create_endpoint_response("introspection", oauth_request))
    )


@router.post("/oauth2/revoke", summary="Token revocation (RFC 7009)", responses=_OAUTH_ERRORS)
async def revoke_token(request: Request, session: DbSession) -> Response:
    oauth_request = await _form_request(request)
    return _oauth_response(
        await _run(request, session, lambda s: s.create_endpoint_response("revocation", oauth_request))
    )


# --- the authorisation endpoint ---------------------------------------------------------------------------


def _error_response(
    server: AuthorizationServer, oauth_request: FormRequest, error: OAuth2Error, language: Language
) -> Response:
    """Back to the client when its redirect URI is known good; otherwise an error page (RFC 6749 §4.1.2.1)."""
    status, _, headers = server.handle_error_response(oauth_request, error)
    location = dict(headers or []).get("Location")
    if status == 302 and location:
        return RedirectResponse(location, status_code=302, headers=_NO_STORE)
    return error_page(error.error, error.description, status_code=400, language=language)


@router.get(
    "/oauth2/authorize",
    summary="Authorisation endpoint: the sign-in and consent page",
    responses=_PAGE_ERRORS,
)
async def authorize_page(request: Request, session: DbSession, settings: CurrentSettings) -> Response:
    query = list(request.query_params.multi_items())
    oauth_request = FormRequest("GET", str(request.url), request.headers, query, [])
    language = choose_language(request.headers.get("accept-language"))

    def validate(server: AuthorizationServer) -> Response | tuple[str, list[str], str]:
        try:
            grant = server.get_consent_grant(oauth_request)
        except OAuth2Error as error:
            return _error_response(server, oauth_request, error, language)
        return grant.client.row.name, scope_to_list(grant.request.scope) or [], grant.redirect_uri

    outcome = await _run(request, session, validate)
    if isinstance(outcome, Response):
        return outcome
    client_name, scopes, redirect_uri = outcome
    return login_page(
        client_name=client_name,
        scopes=scopes,
        params=dict(reversed(query)),
        csrf_token=secrets.token_urlsafe(32),
        redirect_uri=redirect_uri,
        language=language,
        # OIDC's `login_hint`: the e-mail the client already knows (GraphiQL's demo picker), pre-filled.
        email=request.query_params.get("login_hint", "")[:320],
        secure_cookie=settings.production,
    )


@router.post(
    "/oauth2/authorize",
    summary="Authorisation endpoint: the sign-in form's target",
    response_class=HTMLResponse,
    responses=_PAGE_ERRORS,
)
async def authorize(request: Request, session: DbSession, settings: CurrentSettings) -> Response:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    language = choose_language(request.headers.get("accept-language"))
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, fields.get("csrf_token", "")):
        return expired_page(language)
    carried = [(k, v) for k, v in form.multi_items() if k in CARRIED and isinstance(v, str)]
    oauth_request = FormRequest("POST", str(request.url), request.headers, [], carried)

    def validate(server: AuthorizationServer) -> Response | tuple[Any, str, list[str], Any]:
        try:
            grant = server.get_consent_grant(oauth_request)
        except OAuth2Error as error:
            return _error_response(server, oauth_request, error, language)
        owner = server.session.get_one(Organisation, grant.client.row.organisation_id)
        return grant, grant.client.row.name, scope_to_list(grant.request.scope) or [], owner.partner_type

    outcome = await _run(request, session, validate)
    if isinstance(outcome, Response):
        return outcome
    grant, client_name, scopes, owner_type = outcome

    user: User | None = None
    if fields.get("decision") == "allow":
        result = await log_in(
            session,
            request.app.state.passwords,
            fields.get("email", ""),
            fields.get("password", ""),
            hash_key=request.app.state.hash_key,
            address=request.client.host if request.client is not None else "",
            client_id=grant.client.client_id,
            rules=SignInRules.from_settings(settings),
        )
        if result.user is None:
            response = login_page(
                client_name=client_name,
                scopes=scopes,
                params=dict(carried),
                csrf_token=cookie,
                redirect_uri=grant.redirect_uri,
                language=language,
                email=fields.get("email", ""),
                error=result.error,
                status_code=429 if result.locked_for else 401,
                secure_cookie=settings.production,
            )
            if result.locked_for:
                response.headers["Retry-After"] = str(result.locked_for)
            return response
        user = result.user
        # A client registered by one organisation serves only that organisation's people; the operator's
        # clients (the platform's own UIs) serve everyone.
        if owner_type != "operator" and user.organisation_id != grant.client.row.organisation_id:
            user = None

    def respond(server: AuthorizationServer) -> Response:
        grant.server = server
        status, _, headers = server.create_authorization_response(oauth_request, grant_user=user, grant=grant)
        location = dict(headers or []).get("Location")
        if status == 302 and location:
            return RedirectResponse(location, status_code=302, headers=_NO_STORE)
        return error_page("server_error", "The request could not be completed.", status, language=language)

    redirect = await _run(request, session, respond)
    redirect.delete_cookie(CSRF_COOKIE, path="/oauth2/authorize")
    return redirect


# --- OIDC -------------------------------------------------------------------------------------------------


# A browser is sent here: a sign-out that cannot happen is a page that says why, as the success is.
_LOGOUT_RESPONSES: dict[int | str, dict[str, Any]] = {
    302: {"description": "Signed out: back to the client's registered post-logout address"},
    400: {"description": "The sign-in could not be ended (an HTML page)", "content": _PAGE},
}


@router.get(
    "/oauth2/logout",
    summary="End session (OIDC RP-Initiated Logout)",
    response_class=HTMLResponse,
    responses=_LOGOUT_RESPONSES,
)
@router.post(
    "/oauth2/logout",
    summary="End session (OIDC RP-Initiated Logout)",
    response_class=HTMLResponse,
    responses=_LOGOUT_RESPONSES,
)
async def end_session(request: Request, session: DbSession, settings: CurrentSettings) -> Response:
    """Ends the sign-in the `id_token_hint` names (its refresh and access tokens); see `oauth/logout.py`."""
    params = dict(request.query_params)
    if request.method == "POST":
        params.update({k: v for k, v in (await request.form()).items() if isinstance(v, str)})
    language = choose_language(request.headers.get("accept-language"))
    hint = params.get("id_token_hint")
    if not hint:
        return signed_out_page(language, "id_token_hint is required: say which sign-in to end.")

    def sign_out(sync_session: Session) -> SignOut:
        return end_sign_in(
            sync_session,
            settings.issuer,
            id_token_hint=hint,
            client_id=params.get("client_id"),
            post_logout_redirect_uri=params.get("post_logout_redirect_uri"),
            state=params.get("state"),
        )

    outcome = await session.run_sync(sign_out)
    if outcome.error is not None:
        return signed_out_page(language, outcome.error)
    user = await session.get(User, outcome.user_id)
    if user is not None:
        await record(
            session,
            None,
            "user.signed_out",
            user,
            organisation_id=user.organisation_id,
            entity_id=str(user.id),
            after={"sid": outcome.sid},
        )
    if outcome.redirect is not None:
        return RedirectResponse(outcome.redirect, status_code=302, headers=_NO_STORE)
    return signed_out_page(language)


@router.get("/oauth2/userinfo", summary="OIDC UserInfo", responses=problem_responses(401, 403))
@router.post("/oauth2/userinfo", summary="OIDC UserInfo", responses=problem_responses(401, 403))
async def userinfo(session: DbSession, principal: OpenIdCaller) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": principal.subject,
        "org_id": str(principal.organisation_id),
        "partner_type": principal.partner_type,
    }
    if principal.kind == "user":
        user = await session.get(User, principal.user_id)
        if user is not None:
            claims.update(userinfo_claims(user, set(principal.scopes)))
    return claims


@router.get("/.well-known/openid-configuration", summary="OIDC discovery")
@router.get("/.well-known/oauth-authorization-server", summary="OAuth2 server metadata (RFC 8414)")
async def discovery(settings: CurrentSettings) -> dict[str, Any]:
    issuer = settings.issuer.rstrip("/")
    return {
        "issuer": settings.issuer,
        "authorization_endpoint": f"{issuer}/oauth2/authorize",
        "token_endpoint": f"{issuer}/oauth2/token",
        "userinfo_endpoint": f"{issuer}/oauth2/userinfo",
        "jwks_uri": f"{issuer}/jwks.json",
        "introspection_endpoint": f"{issuer}/oauth2/introspect",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "end_session_endpoint": f"{issuer}/oauth2/logout",
        "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [signing_keys.ALGORITHM],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "iss",
            "aud",
            "exp",
            "iat",
            "jti",
            "sub",
            "sub_type",
            "org_id",
            "partner_type",
            "org_role",
            "municipality_code",
            "scope",
            "client_id",
            "memberships",
            "epochs",
            "sid",
            "name",
            "email",
            "nonce",
            "auth_time",
        ],
    }


@router.get("/jwks.json", summary="The public keys that verify every token identity signs")
async def jwks(session: DbSession, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "public, max-age=60"
    return await signing_keys.published_jwks(session)


class CorsOrigins(BaseModel):
    origins: list[str]


@router.get("/v1/cors-origins", summary="The web origins of registered redirect URIs (CORS, kit/cors.py)")
async def cors_origins(session: DbSession, response: Response) -> CorsOrigins:
    """What every other process allows cross-origin, besides its own `*_CORS_ORIGINS`."""
    response.headers["Cache-Control"] = "public, max-age=30"
    return CorsOrigins(origins=await registered_origins(session))


# --- operators: signing keys ------------------------------------------------------------------------------


@keys_router.get("/signing-keys", responses=problem_responses(401, 403))
async def list_signing_keys(session: DbSession, principal: Caller) -> list[SigningKeyRead]:
    require_operator(principal)
    return [SigningKeyRead.model_validate(row) for row in await signing_keys.list_signing_keys(session)]


@keys_router.post("/signing-keys/rotations", status_code=201, responses=problem_responses(401, 403))
async def rotate_signing_key(
    session: DbSession, principal: PartnerWriter, ring: Keys, settings: CurrentSettings
) -> SigningKeyRead:
    """A new key signs from now; the old one stays in the JWKS until its last token has expired."""
    require_operator(principal)
    grace = timedelta(seconds=settings.access_token_lifetime + 60)
    row = await signing_keys.rotate_signing_key(session, ring, grace=grace)
    await record(
        session,
        principal,
        "signing_key.rotated",
        row,
        organisation_id=None,
        entity_id=row.kid,
        after={"kid": row.kid, "status": row.status},
    )
    return SigningKeyRead.model_validate(row)


@keys_router.post("/signing-keys/{kid}/retirement", responses=problem_responses(401, 403, 404, 409))
async def retire_signing_key(session: DbSession, principal: PartnerWriter, kid: str) -> SigningKeyRead:
    """Unpublish a key at once (a compromised key): every token it signed stops verifying."""
    require_operator(principal)
    row = await signing_keys.retire_signing_key(session, kid)
    await record(
        session,
        principal,
        "signing_key.retired",
        row,
        organisation_id=None,
        entity_id=row.kid,
        after={"kid": row.kid, "status": row.status},
    )
    return SigningKeyRead.model_validate(row)
