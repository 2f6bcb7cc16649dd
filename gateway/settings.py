"""Gateway settings, read from `GATEWAY_*` environment variables."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kit.settings import AppSettings


class Settings(AppSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    identity_url: str = "http://127.0.0.1:8001"
    contracts_url: str = "http://127.0.0.1:8002"
    outcomes_url: str = "http://127.0.0.1:8003"
    downstream_timeout: float = 10.0
    # How often a partnership's shared ledger reader asks the outcome service for new events.
    ledger_poll_seconds: float = 1.0
    # The operations partner UIs ship ({"sha256:<hex>": "<document>"}); production accepts only these.
    trusted_documents_path: Path = Path(__file__).with_name("trusted_documents.json")
    trusted_documents_only: bool | None = None
    # Identity's public client GraphiQL signs in with (its redirect URI is `<gateway>/graphql`); without it
    # the IDE still opens and takes a token in its headers. `effekt up` sets both ends (effekt/launcher.py).
    graphiql_client_id: str | None = None
    # `effekt up`'s demo (`.effekt/demo.json`): GraphiQL offers to sign in as each demo user by partner type.
    graphiql_demo_file: Path | None = None

    # --- live subscriptions (docs/gateway.md, "Live ledger events") ---------------------------------------
    # Open subscriptions one WebSocket may hold, and one caller (a token subject) across all its sockets
    # to this process; one more is refused (`too-many-subscriptions`), the others go on.
    subscriptions_per_socket: int = Field(default=10, ge=1)
    subscriptions_per_caller: int = Field(default=25, ge=1)
    # Events a subscriber may fall behind its partnership's shared reader before it is ended
    # (`slow-subscriber`, resume from `after_sequence`), so a stalled client never holds up the others.
    subscription_queue_size: int = Field(default=1000, ge=1)

    @property
    def only_trusted_documents(self) -> bool:
        return self.production if self.trusted_documents_only is None else self.trusted_documents_only

    @property
    def service_urls(self) -> dict[str, str]:
        return {"identity": self.identity_url, "contracts": self.contracts_url, "outcomes": self.outcomes_url}
