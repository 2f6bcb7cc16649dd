"""The demo partnership `effekt up` seeds, so a newcomer sees each partner type's view within a minute.

Modelled on a Danish refugee-employment partnership: Herning and Viborg pay for outcomes, an NGO runs the
programme, a foundation pre-finances it, an evaluator and a legal adviser follow it. The seed signs a
contract, enrols participants (synthetic CPR numbers), claims and verifies outcomes and issues a statement.

It talks to the services over HTTP only, with the sandbox's helpers (`effekt.sandbox`): as the bootstrap
operator, and as the demo users, signing in with authorisation code + PKCE like any UI. It is idempotent
across restarts: what it made is recorded in `<data dir>/demo.json`; when that partnership still exists it
only signs the users in again for fresh tokens (written to `<data dir>/demo-tokens.json` and printed).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from effekt.credentials import DEMO_PASSWORD, write_demo_tokens
from effekt.launcher import Platform
from effekt.sandbox import directory
from effekt.sandbox.http import expect
from effekt.sandbox.identifiers import HERNING, VIBORG, synthetic_cpr
from effekt.sandbox.signin import bearer, sign_in
from effekt.sandbox.terms import TARGET_GROUP, Parties, caps, fixed_split, v2_terms

PASSWORD = DEMO_PASSWORD  # every demo user's (effekt/credentials.py signs them in again with it)

REDIRECT_PATH = "/demo/callback"  # the demo web client's redirect; nothing needs to listen there
# The reference partner console (examples/partner-console) under `npm run dev` or `npm run preview`.
CONSOLE_REDIRECT_URI = "http://127.0.0.1:5173/"
CONSOLE_FILE = (
    "partner-console.json"  # its /config.json in development (examples/partner-console/vite.config.ts)
)

# (key, partner type, name, municipality code, membership role)
ORGANISATIONS = (
    ("herning", "municipality", "Herning Kommune", HERNING, "outcome_payer"),
    ("viborg", "municipality", "Viborg Kommune", VIBORG, "outcome_payer"),
    ("provider", "provider", "Foreningen Job Nu", None, "provider"),
    ("investor", "investor", "Fonden for Social Investering", None, "investor"),
    ("evaluator", "evaluator", "Institut for Effektmåling", None, "evaluator"),
    ("adviser", "legal_adviser", "Advokatfirmaet Kontrakt & Co", None, "adviser"),
)


@dataclass
class Demo:
    partnership_id: str
    web_client_id: str
    users: dict[str, dict[str, str]]  # key -> {"email", "organisation_id", "partner_type"}
    # Each organisation's admin ("herning-admin") registers machine clients and users (docs/identity.md).
    # The users above are signatories, who sign contracts but do not administer their organisation.
    admins: dict[str, dict[str, str]] = field(default_factory=dict)
    console_client_id: str = ""


def _key() -> dict[str, str]:
    return {"Idempotency-Key": secrets.token_hex(12)}


class Seeder:
    def __init__(self, platform: Platform, data_dir: Path, http: httpx.AsyncClient) -> None:
        self.platform = platform
        self.state_path = data_dir / "demo.json"
        self.tokens_path = data_dir / "demo-tokens.json"
        self.http = http

    def url(self, service: str, path: str) -> str:
        return self.platform.url(service) + path

    @property
    def redirect_uri(self) -> str:
        return self.platform.url("gateway") + REDIRECT_PATH

    async def user_token(self, client_id: str, email: str) -> dict[str, str]:
        """Sign in as a browser would: authorisation code with PKCE, then the token exchange; the access
        and the refresh token (`effekt token` redeems it when the access token has expired)."""
        token = await sign_in(
            self.platform.url("identity"),
            client_id=client_id,
            email=email,
            password=PASSWORD,
            redirect_uri=self.redirect_uri,
        )
        # The client the refresh token belongs to, so that an integrator can redeem it with curl too.
        return {
            "token": str(token["access_token"]),
            "refresh_token": str(token["refresh_token"]),
            "client_id": client_id,
            "token_endpoint": self.platform.url("identity") + "/oauth2/token",
            "redirect_uri": self.redirect_uri,
        }

    # --- the run -------------------------------------------------------------------------------------------

    async def run(self) -> dict[str, dict[str, str]]:
        """Ensure the demo exists; return, per demo user, its organisation, e-mail and a fresh token."""
        operator = await directory.operator_token(self.platform)
        demo = await self._existing(operator) or await self._create()
        await self._complete(demo)
        tokens = {
            key: {**user, **await self.user_token(demo.web_client_id, user["email"])}
            for key, user in {**demo.users, **demo.admins}.items()
        }
        tokens["operator"] = {"partner_type": "operator", "email": "", "token": operator}
        write_demo_tokens(self.tokens_path.parent, tokens)
        self._write_console_config(demo)
        return tokens

    async def _complete(self, demo: Demo) -> None:
        """Add what a demo made by an older seed lacks: the organisations' admins, the console's client."""
        changed = False
        if not demo.admins:
            for key, user in demo.users.items():
                _, email, _ = await directory.create_user(
                    self.platform,
                    user["organisation_id"],
                    "admin",
                    email=directory.unique_email(f"{key}-admin", "demo.effekt.dk"),
                    display_name=f"{key.title()} admin (demo)",
                    password=PASSWORD,
                )
                demo.admins[f"{key}-admin"] = {**user, "email": email}
            changed = True
        if not demo.console_client_id:
            console = await directory.create_web_client(
                self.platform, "Effekt partner console (example)", CONSOLE_REDIRECT_URI
            )
            demo.console_client_id = console["client_id"]
            changed = True
        if changed:
            self.state_path.write_text(json.dumps(demo.__dict__, indent=2))

    def _write_console_config(self, demo: Demo) -> None:
        config = {
            "issuer": self.platform.url("identity"),
            "gateway": self.platform.url("gateway"),
            "clientId": demo.console_client_id,
        }
        (self.state_path.parent / CONSOLE_FILE).write_text(json.dumps(config, indent=2))

    async def _existing(self, operator: str) -> Demo | None:
        if not self.state_path.exists():
            return None
        try:
            demo = Demo(**json.loads(self.state_path.read_text()))
        except (ValueError, TypeError):
            return None
        found = await self.http.get(
            self.url("identity", f"/v1/partnerships/{demo.partnership_id}"), headers=bearer(operator)
        )
        return demo if found.status_code == 200 else None  # the databases were reset: seed again

    async def _create(self) -> Demo:
        platform = self.platform
        web = await directory.create_web_client(platform, "Effekt demo web UI", self.redirect_uri)
        partnership = await directory.create_partnership(
            platform, "Flygtninge i job - Midtjylland", "Refugees into lasting work, paid on outcomes."
        )
        pid = partnership["id"]
        orgs: dict[str, dict[str, Any]] = {}
        users: dict[str, dict[str, str]] = {}
        for key, partner_type, name, code, role in ORGANISATIONS:
            org = orgs[key] = await directory.create_organisation(
                platform, partner_type, name, municipality_code=code
            )
            await directory.add_membership(platform, pid, org["id"], role)
            _, email, _ = await directory.create_user(
                platform,
                org["id"],
                "signatory",
                email=directory.unique_email(key, "demo.effekt.dk"),
                display_name=f"{name} (demo)",
                password=PASSWORD,
            )
            users[key] = {"email": email, "organisation_id": org["id"], "partner_type": partner_type}
        demo = Demo(partnership_id=pid, web_client_id=web["client_id"], users=users)
        await self._activity(demo, orgs)
        self.state_path.write_text(json.dumps(demo.__dict__, indent=2))
        return demo

    async def _post(self, service: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
        response = await self.http.post(self.url(service, path), headers={**headers, **_key()}, json=body)
        return expect(response)

    async def _activity(self, demo: Demo, orgs: dict[str, dict[str, Any]]) -> None:
        """A signed contract, enrolled participants, verified outcomes and an issued statement."""
        token = {
            key: bearer((await self.user_token(demo.web_client_id, u["email"]))["token"])
            for key, u in demo.users.items()
        }
        today = datetime.now(UTC).date()
        created = await self._post(
            "contracts",
            "/v1/contracts",
            token["provider"],
            {"partnership_id": demo.partnership_id, "terms": _terms(orgs, today)},
        )
        contract_id, version_id = created["id"], created["versions"][0]["id"]
        proposed = await self._post(
            "contracts", f"/v1/contract-versions/{version_id}/proposal", token["provider"]
        )
        for signer in ("herning", "viborg", "provider"):
            await self._post(
                "contracts",
                f"/v1/contract-versions/{version_id}/signatures",
                token[signer],
                {"content_hash": proposed["content_hash"]},
            )
        participants: list[tuple[str, str]] = []
        for index in range(12):
            code, payer = (HERNING, "herning") if index % 3 else (VIBORG, "viborg")
            enrolled = await self._post(
                "outcomes",
                "/v1/participants",
                token["provider"],
                {
                    "partnership_id": demo.partnership_id,
                    "contract_id": contract_id,
                    "cpr": synthetic_cpr(index),
                    "municipality_code": code,
                    "enrolment_date": (today - timedelta(days=150 - 5 * index)).isoformat(),
                    "cohort": "2026-A",
                    "municipal_reference": f"SAG-{code}-{1000 + index}",
                    "segment": "high" if index % 4 == 0 else "standard",
                },
            )
            await self._post(
                "outcomes", f"/v1/participants/{enrolled['id']}/eligibility-confirmation", token[payer]
            )
            participants.append((enrolled["id"], payer))
        last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
        for index, (participant_id, payer) in enumerate(participants[:8]):
            claim = await self._post(
                "outcomes",
                "/v1/outcome-claims",
                token["provider"],
                {
                    "participant_id": participant_id,
                    "outcome_code": "job_start",
                    # All in last month, so the investor's cell for it is above the small-cell threshold.
                    "achievement_date": (last_month + timedelta(days=index)).isoformat(),
                    "evidence_reference": "eIndkomst extract",
                    # Part-time (8-16 hours) and full-time starts: the engine picks the band.
                    "facts": {"hours_per_week": "12" if index % 3 == 0 else "37", "off_benefit": True},
                },
            )
            if index < 6:  # two stay pending, for the verification queue
                await self._post(
                    "outcomes",
                    f"/v1/outcome-claims/{claim['id']}/verification",
                    token[payer],
                    {"decision": "verified"},
                )
        start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        end = (start + timedelta(days=95)).replace(day=1) - timedelta(days=1)
        statement = await self._post(
            "outcomes",
            "/v1/payment-statements",
            token["provider"],
            {
                "contract_id": contract_id,
                "payer_organisation_id": orgs["herning"]["id"],
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
            },
        )
        await self._post(
            "outcomes",
            f"/v1/payment-statements/{statement['id']}/issue",
            {**token["provider"], "If-Match": f'"{statement["version"]}"'},
        )


def _terms(orgs: dict[str, dict[str, Any]], today: date) -> dict[str, Any]:
    """Schema version 2, so a new user meets the mechanisms: job starts banded by hours a week, prices per
    support-need segment fixed at enrolment, two paying municipalities."""

    def outcome(
        code: str, name: str, price: dict[str, Any], anchor: str | None, opens: int, closes: int
    ) -> dict[str, Any]:
        return {
            "code": code,
            "name": name,
            "description": "",
            "evidence_required": "Employment contract or eIndkomst extract",
            "verifier_roles": ["outcome_payer", "evaluator"] if anchor is None else ["outcome_payer"],
            **price,
            "repeat": {"max_per_participant": 1, "recurs": False},
            "prerequisites": [anchor] if anchor else [],
            "window": {
                "anchor": "outcome" if anchor else "enrolment",
                "anchor_outcome": anchor,
                "opens_after_days": opens,
                "closes_after_days": closes,
            },
        }

    def by_segment(standard: str, high: str) -> dict[str, Any]:
        return {"by_segment": {"standard": standard, "high": high}}

    job_start = {
        "criteria": [{"fact": "off_benefit", "op": "eq", "value": True}],
        "bands": {
            "fact": "hours_per_week",
            "bands": [
                {"code": "part_time", "from": "8", "to": "16", "tariff": by_segment("12000.00", "15000.00")},
                {"code": "full_time", "from": "16", "to": None, "tariff": by_segment("25000.00", "30000.00")},
            ],
        },
    }
    parties = Parties(*(orgs[key]["id"] for key in ("herning", "viborg", "provider", "investor")))
    return v2_terms(
        parties,
        today=today,
        title="Flygtninge i job - Midtjylland 2026-2028",
        start_date=(today - timedelta(days=365)).isoformat(),
        end_date=(today + timedelta(days=730)).isoformat(),
        target_group=TARGET_GROUP,
        eligibility_criteria=["Resident in a paying municipality", "Receiving integration benefit"],
        segments={"name": "support_need", "values": ["standard", "high"]},
        outcomes=[
            outcome("job_start", "Job start", job_start, None, 0, 730),
            outcome(
                "employed_13w",
                "Employed 13 weeks",
                {"tariff": by_segment("15000.00", "18000.00")},
                "job_start",
                91,
                365,
            ),
            outcome(
                "employed_26w",
                "Employed 26 weeks",
                {"tariff": by_segment("40000.00", "48000.00")},
                "job_start",
                182,
                365,
            ),
        ],
        caps=caps(
            "80000.00", "8000000.00", per_period="400000.00"
        ),  # the console charts each period against it
        split=fixed_split({parties.payer_a: "60", parties.payer_b: "40"}),
    )


def seed(platform: Platform, data_dir: Path) -> dict[str, dict[str, str]]:
    """Run the seed on its own event loop (the caller's thread blocks); `Refused` if a service refuses."""
    return asyncio.run(_seed(platform, data_dir))


async def _seed(platform: Platform, data_dir: Path) -> dict[str, dict[str, str]]:
    try:
        async with httpx.AsyncClient(timeout=60.0) as http:
            return await Seeder(platform, data_dir, http).run()
    finally:
        await directory.close_clients()


def describe(tokens: dict[str, dict[str, str]], gateway_url: str, tokens_path: Path) -> str:
    """How to act as each partner type, for the console."""
    lines = [
        "",
        "Demo partnership 'Flygtninge i job - Midtjylland' is ready. Act as a partner type in GraphiQL",
        f"({gateway_url}/graphql) with the header  Authorization: Bearer <token>  (tokens: {tokens_path}):",
    ]
    for key, user in tokens.items():
        who = user["email"] or "bootstrap operator client"
        lines.append(f"  {key:<16} {user['partner_type']:<13} {who}")
    lines.append(
        f"Sign in with code + PKCE instead: any e-mail above, password {PASSWORD} (docs/gateway.md)."
    )
    lines.append(
        "Access tokens last 15 minutes. A fresh one, from the stored refresh token:  "
        "effekt token --as investor  (or --as operator, herning, provider, ...)."
    )
    lines.append(
        "Try:  { partnerships { nodes { id name } } }  then  partnership(id: ...) { ... }  as each type."
    )
    lines.append(
        "Each organisation's admin (herning-admin, investor-admin, ...) registers machine clients: "
        "docs/identity.md, 'In the sandbox'."
    )
    lines.append(
        "The partner console: cd examples/partner-console && npm ci && npm run dev, then open "
        f"{CONSOLE_REDIRECT_URI} (its settings: {tokens_path.parent / CONSOLE_FILE})."
    )
    return "\n".join(lines)
