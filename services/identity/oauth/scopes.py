"""The scopes and grant types this authorisation server knows."""

SCOPES = (
    "openid",
    "profile",
    "email",
    "offline_access",
    "partners:read",
    "partners:write",
    "contracts:read",
    "contracts:write",
    "contracts:sign",
    "outcomes:read",
    "outcomes:write",
    "outcomes:verify",
    "feed:read",
    "webhooks:manage",
    "audit:read",
)
# Scopes that describe a person; a machine client never holds them.
USER_ONLY_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
# The platform's own services read the revocation list with it. Only the clients identity ensures from its
# settings hold it: no registration, not even an operator's, can ask for it, and it is not advertised.
REVOCATIONS_SCOPE = "tokens:revocations"
SERVICE_SCOPES = frozenset({REVOCATIONS_SCOPE})
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
