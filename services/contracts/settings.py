"""Settings for the contracts service, read from `CONTRACTS_*` environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONTRACTS_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/effekt_contracts"
    # Identity answers who is a member of a partnership when a version is proposed.
    identity_url: str = "http://127.0.0.1:8001"
    identity_timeout: float = 5.0
    # Attachments live in PostgreSQL; past this size they belong in object storage, not here.
    max_attachment_bytes: int = 10 * 1024 * 1024
    # The platform service clients (identity's ensured clients, `tokens:revocations` scope) that may read
    # the change log at `GET /v1/contract-events`: the outcome service records it in the ledger.
    event_readers: list[str] = ["effekt-outcomes"]
    # The outcome service answers the exports' results (with the caller's token; docs/open-data.md).
    outcomes_url: str = "http://127.0.0.1:8003"
    outcomes_timeout: float = 5.0
    # OCDS process ids are `<prefix>-<contract id>`; a publisher registers its own prefix with OCP.
    ocid_prefix: str = Field("ocds-effekt", pattern=r"^ocds-[a-z0-9]{6}$")
    # The unauthenticated open-data reads, per client address and minute (this replica's count).
    public_reads_per_minute: int = Field(120, ge=1)
