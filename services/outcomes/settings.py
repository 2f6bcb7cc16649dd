"""Settings for the outcomes service, read from `OUTCOMES_*` environment variables.

`OUTCOMES_SECRET_KEY` is the current pseudonym and encryption secret, of version
`OUTCOMES_SECRET_KEY_VERSION`; `OUTCOMES_PREVIOUS_SECRET_KEYS` (JSON `{"1": "..."}`) holds the other
known versions: retired ones, so duplicates are still found after a rotation, and during a rolling
rotation the next one, known everywhere before any replica makes it current (see pseudonyms.py).
"""

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings
from services.outcomes.pseudonyms import PartnershipKeys


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="OUTCOMES_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/effekt_outcomes"
    contracts_url: str = "http://127.0.0.1:8002"
    contracts_timeout: float = 10.0
    # How old the registry's "version in force" answer a write checks against may be (clients/contracts.py).
    contracts_in_force_ttl: float = 5.0
    # The registry's change log, recorded in the ledgers (contract_events.py), read this often.
    contract_events: bool = True
    contract_events_poll_interval: float = 2.0
    secret_key_version: int = 1
    previous_secret_keys: dict[int, SecretStr] = {}
    max_evidence_bytes: int = 5 * 1024 * 1024
    # Group commit of single writes (groups.py): how long the first request of a group waits for others,
    # in seconds, and how many a group holds at most; one pair for claims, verifications, eligibility
    # confirmations and enrolments alike. A size of 1 writes each request on its own.
    group_window: float = Field(0.002, ge=0, le=0.1)
    group_size: int = Field(32, ge=1, le=500)
    # Integrations (feed and webhooks). Insecure webhooks (http, private addresses) default to allowed
    # everywhere but production; production refuses them unless this is set explicitly.
    feed_poll_interval: float = 5.0
    webhook_dispatcher: bool = True
    webhook_allow_insecure: bool | None = None
    webhook_retry_base: float = 2.0
    webhook_retry_max_delay: float = 3600.0
    webhook_retry_for: float = 25 * 3600.0
    webhook_timeout: float = 10.0
    webhook_lease: float = 60.0  # a claimed delivery falls due again after this (a dispatcher died)
    webhook_batch: int = 20
    webhook_poll_interval: float = 1.0

    def partnership_keys(self) -> PartnershipKeys:
        secrets = {v: s.get_secret_value().encode() for v, s in self.previous_secret_keys.items()}
        secrets[self.secret_key_version] = self.secret_key.get_secret_value().encode()
        return PartnershipKeys(secrets, current=self.secret_key_version)
