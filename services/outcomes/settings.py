"""Settings for the outcomes service, read from `OUTCOMES_*` environment variables.

`OUTCOMES_SECRET_KEY` is the current pseudonym and encryption secret, of version
`OUTCOMES_SECRET_KEY_VERSION`; `OUTCOMES_PREVIOUS_SECRET_KEYS` (JSON `{"1": "..."}`) holds the other
known versions: retired ones, so duplicates are still found after a rotation, and during a rolling
rotation the next one, known everywhere before any replica makes it current (see pseudonyms.py).
"""

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from kit.settings import ServiceSettings
from services.outcomes.pseudonyms import KeyRing


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="OUTCOMES_", extra="ignore")

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/effekt_outcomes"
    contracts_url: str = "http://127.0.0.1:8002"
    contracts_timeout: float = 10.0
    secret_key_version: int = 1
    previous_secret_keys: dict[int, SecretStr] = {}
    max_evidence_bytes: int = 5 * 1024 * 1024

    def key_ring(self) -> KeyRing:
        secrets = {v: s.get_secret_value().encode() for v, s in self.previous_secret_keys.items()}
        secrets[self.secret_key_version] = self.secret_key.get_secret_value().encode()
        return KeyRing(secrets, current=self.secret_key_version)
