"""Settings shared by every service: environment, database, token trust, logging.

Each service subclasses `ServiceSettings` with its own env prefix (`IDENTITY_`, `CONTRACTS_`, ...).
Development defaults work on a laptop; production refuses to start with any of them left as a secret.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Self
from urllib.parse import urljoin

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-insecure-secret-change-me"  # noqa: S105 - the marker production refuses


class InsecureConfiguration(RuntimeError):
    """Raised at start-up when production mode still carries a development default."""


class AppSettings(BaseSettings):
    """What every process shares, the gateway included."""

    model_config = SettingsConfigDict(env_prefix="EFFEKT_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    # Who signs the tokens this service trusts, and where their public keys are.
    issuer: str = "http://127.0.0.1:8001"
    jwks_url: str = "http://127.0.0.1:8001/jwks.json"
    audience: str = "effekt"
    # Secret material (HMAC keys, encryption keys); each service documents what it uses it for.
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    log_json: bool = True
    log_level: str = "INFO"
    # Identity's revocation list (kit/revocations.py), beside its JWKS, read with this confidential client
    # every `revocations_poll_seconds`. Without the client a process honours a revoked token until it
    # expires; production refuses to serve so.
    revocations_client_id: str | None = None
    revocations_client_secret: SecretStr | None = None
    revocations_poll_seconds: float = Field(5.0, gt=0)
    # Web origins allowed to call this process from a browser besides those of registered redirect URIs
    # (kit/cors.py), as JSON: `["https://console.example.dk"]`; `["*"]` opens the CORS paths to every
    # origin, never with credentials. The registered set is re-read after this many seconds.
    cors_origins: list[str] = []
    cors_refresh_seconds: float = Field(30.0, gt=0)
    # False where tokens are checked against identity's own tables (identity itself).
    polls_revocations: ClassVar[bool] = True

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def revocations_url(self) -> str:
        return urljoin(self.jwks_url, "v1/token-revocations")

    @property
    def cors_origins_url(self) -> str:
        return urljoin(self.jwks_url, "v1/cors-origins")

    @property
    def token_url(self) -> str:
        return urljoin(self.jwks_url, "oauth2/token")

    def secret_fields(self) -> dict[str, SecretStr]:
        """Every `SecretStr` setting; production refuses any still at a development default."""
        return {name: value for name, value in self if isinstance(value, SecretStr)}

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> Self:
        if not self.production:
            return self
        weak = [
            name
            for name, value in self.secret_fields().items()
            if value.get_secret_value() == DEV_SECRET or len(value.get_secret_value()) < 32
        ]
        if weak:
            raise InsecureConfiguration(
                f"refusing to start in production with default or short secrets: {', '.join(sorted(weak))}"
            )
        return self


class ServiceSettings(AppSettings):
    """A service with its own database."""

    # The service connects as a runtime role that owns no table, so the row policies bind it; migrations run
    # as the owner at `migration_database_url` (unset: the same URL, for a database without such roles).
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/effekt"
    migration_database_url: str | None = None
    db_pool_size: int = 10
    db_max_overflow: int = 10
    # Unset means: migrate on start everywhere but production, where migrations are their own step.
    migrate_on_start: bool | None = None
    # How long a write's `Idempotency-Key` replays its first response (then the key is free again), and how
    # often expired keys are deleted (kit/idempotency.py).
    idempotency_replay_seconds: int = Field(24 * 3600, gt=0)
    idempotency_sweep_seconds: float = Field(600.0, gt=0)

    @property
    def migration_url(self) -> str:
        return self.migration_database_url or self.database_url

    @property
    def migrates_on_start(self) -> bool:
        return not self.production if self.migrate_on_start is None else self.migrate_on_start

    @model_validator(mode="after")
    def _no_implicit_migrations_in_production(self) -> Self:
        if self.production and self.migrate_on_start:
            raise InsecureConfiguration(
                "refusing to migrate on start in production; run the migration command as its own step"
            )
        return self
