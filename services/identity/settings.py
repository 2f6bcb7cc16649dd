"""Settings for the identity service, read from `IDENTITY_*` environment variables.

`secret_key` derives the key that encrypts signing keys at rest and the key that hashes client secrets
and refresh tokens, so changing it invalidates every stored secret.
"""

from typing import ClassVar, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings

DEV_OPERATOR_CLIENT_ID = "effekt-dev-operator"
DEV_OPERATOR_CLIENT_SECRET = "effekt-dev-operator-secret"  # noqa: S105 - development only, documented


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/effekt_identity"
    # Lifetimes, in seconds. Access and ID tokens are short so that a retired signing key and a revoked
    # membership stop mattering soon; refresh tokens rotate on every use.
    access_token_lifetime: int = 900
    refresh_token_lifetime: int = 30 * 24 * 3600
    authorization_code_lifetime: int = 120
    # Wrong passwords in a row before an e-mail address is locked (known or not), and how long the first
    # lock lasts (it doubles after); failed sign-ins per source address and per OAuth client within a
    # window before either is refused for the rest of it (services/identity/oauth/login.py).
    login_max_failures: int = Field(5, ge=1)
    login_lock_seconds: int = Field(60, ge=1)
    login_address_max_failures: int = Field(50, ge=1)
    login_client_max_failures: int = Field(500, ge=1)
    login_throttle_window_seconds: int = Field(300, ge=1)
    # argon2id cost (RFC 9106's second profile by default); only the test suite lowers it.
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536
    # The first operator: on start-up, an operator organisation and this confidential client are ensured.
    bootstrap_operator_client_id: str | None = None
    bootstrap_operator_client_secret: SecretStr | None = None
    bootstrap_operator_cvr: str = "10000009"
    # The gateway's GraphiQL (gateway/graphiql): with redirect URIs (`["http://127.0.0.1:8000/graphql"]`), a
    # public code-flow client of the operator organisation with this id is ensured on start-up.
    graphiql_client_id: str = "effekt-graphiql"
    graphiql_redirect_uris: list[str] = []
    # The platform's own services, which poll the revocation list: client id -> secret, as JSON
    # (`{"effekt-contracts": "...", ...}`). On start-up each is ensured as a confidential client of the
    # operator organisation holding only `tokens:revocations`; production refuses to start without them.
    revocation_readers: dict[str, SecretStr] = {}
    # Identity checks tokens against its own tables; it polls no list.
    polls_revocations: ClassVar[bool] = False

    @model_validator(mode="after")
    def _development_operator(self) -> Self:
        """`effekt up` on a laptop gets a known operator (docs/identity.md); nowhere else does."""
        if self.environment == "development" and self.bootstrap_operator_client_id is None:
            self.bootstrap_operator_client_id = DEV_OPERATOR_CLIENT_ID
            self.bootstrap_operator_client_secret = SecretStr(DEV_OPERATOR_CLIENT_SECRET)
        return self
