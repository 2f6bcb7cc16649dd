"""The gateway's clients of the three services: one typed method per endpoint, each returning typed rows
(pydantic, tolerant of fields the gateway does not use). They own every service URL and header; they never
import strawberry, and never decide what a caller may see (policy.py and the services do)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp

from gateway.clients.contracts import ContractsClient
from gateway.clients.identity import IdentityClient
from gateway.clients.outcomes import OutcomesClient
from gateway.clients.transport import ServiceClient, ServiceUnavailable

__all__ = ["ServiceClient", "ServiceUnavailable", "Services"]


@dataclass
class Services:
    """One request's clients, all forwarding the caller's token and sharing one call counter."""

    urls: Mapping[str, str]
    identity: IdentityClient
    contracts: ContractsClient
    outcomes: OutcomesClient
    calls: Counter[str] = field(default_factory=Counter)

    @classmethod
    def for_token(cls, urls: Mapping[str, str], http: aiohttp.ClientSession, token: str) -> Services:
        calls: Counter[str] = Counter()
        return cls(
            urls=urls,
            identity=IdentityClient(ServiceClient("identity", urls["identity"], http, token, calls)),
            contracts=ContractsClient(ServiceClient("contracts", urls["contracts"], http, token, calls)),
            outcomes=OutcomesClient(ServiceClient("outcomes", urls["outcomes"], http, token, calls)),
            calls=calls,
        )
