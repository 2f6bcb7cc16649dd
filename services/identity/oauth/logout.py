"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): `end_session_endpoint` in discovery.

A partner UI sends the browser to `/oauth2/logout?id_token_hint=...&post_logout_redirect_uri=...&state=...`.
The hint must be an ID token identity signed with a key it still publishes (an expired one is fine: a
user signs out after the token's 15 minutes too); its `sid` names the sign-in, whose refresh tokens and
access tokens end at once (`revoke_family`, the list the other processes poll). The browser is sent back
only to a redirect URI the hint's client registered, with `state`; any other target gets a page, never a
redirect. Identity keeps no sign-in cookie (every authorisation asks for the password), so ending the
sign-in's tokens is all there is of a session to end.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from authlib.common.urls import add_params_to_uri
from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.identity.models import OAuthClient
from services.identity.oauth.grants import revoke_family
from services.identity.oauth.keys import published_key_set_sync


@dataclass(frozen=True)
class SignOut:
    """What the endpoint does: redirect to `redirect`, or show the signed-out page (or `error`)."""

    redirect: str | None = None
    error: str | None = None
    user_id: uuid.UUID | None = None
    sid: str | None = None


def end_sign_in(
    session: Session,
    issuer: str,
    *,
    id_token_hint: str,
    client_id: str | None,
    post_logout_redirect_uri: str | None,
    state: str | None,
) -> SignOut:
    try:
        decoded = jwt.decode(id_token_hint, published_key_set_sync(session), algorithms=["RS256"])
    except (JoseError, ValueError):
        return SignOut(error="The sign-out request did not carry a valid ID token from this server.")
    claims = decoded.claims
    audience = claims.get("aud")
    if claims.get("iss") != issuer or not isinstance(audience, str) or "sid" not in claims:
        return SignOut(error="The sign-out request did not carry a valid ID token from this server.")
    if client_id is not None and client_id != audience:
        return SignOut(error="The ID token was issued to another client.")
    redirect: str | None = None
    if post_logout_redirect_uri:
        client = session.scalars(select(OAuthClient).where(OAuthClient.client_id == audience)).one_or_none()
        if client is None or post_logout_redirect_uri not in client.redirect_uris:
            return SignOut(error="The address to return to after signing out is not registered.")
        redirect = add_params_to_uri(post_logout_redirect_uri, [("state", state)] if state else [])
    try:
        family = uuid.UUID(str(claims["sid"]))
        user_id = uuid.UUID(str(claims["sub"]))
    except (KeyError, ValueError):
        return SignOut(error="The sign-out request did not carry a valid ID token from this server.")
    revoke_family(session, family)
    return SignOut(redirect=redirect, user_id=user_id, sid=str(family))
