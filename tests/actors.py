"""Who acts in a test: the sandbox's cast of actors (`effekt.sandbox`), under the names the conftest
fixtures import (test modules import `effekt.sandbox` directly).

`make_cast(platform)` builds a brand-new partnership with one organisation per role; `token_for` mints a
fresh token for an actor. The very first operator is the bootstrap client identity ensures on start-up,
which `tests/platform.py` sets.
"""

from __future__ import annotations

from effekt.sandbox.cast import Actor, Cast, machine_actor, make_cast, token_for, user_actor
from effekt.sandbox.directory import (
    PASSWORD,
    add_membership,
    client_credentials_token,
    close_clients,
    create_machine_client,
    create_organisation,
    create_user,
    operator_headers,
    remove_membership,
    unique_email,
    user_token,
    web_client_id,
)
from effekt.sandbox.identifiers import cvr as random_cvr
from effekt.sandbox.signin import (
    MACHINE_SCOPES,
    REDIRECT_URI,
    USER_SCOPES,
    authorization_code,
    bearer,
    claims_of,
    pkce_pair,
)

__all__ = [
    "MACHINE_SCOPES",
    "PASSWORD",
    "REDIRECT_URI",
    "USER_SCOPES",
    "Actor",
    "Cast",
    "add_membership",
    "authorization_code",
    "bearer",
    "claims_of",
    "client_credentials_token",
    "close_clients",
    "create_machine_client",
    "create_organisation",
    "create_user",
    "machine_actor",
    "make_cast",
    "operator_headers",
    "pkce_pair",
    "random_cvr",
    "remove_membership",
    "token_for",
    "unique_email",
    "user_actor",
    "user_token",
    "web_client_id",
]
