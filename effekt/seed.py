"""The demo partnership `effekt up` seeds, so a newcomer sees each partner type's view within a minute.

Modelled on a Danish refugee-employment partnership: Herning and Viborg pay for outcomes, an NGO runs the
programme, a foundation pre-finances it, an evaluator and a legal adviser follow it. The seed signs a
contract, enrols participants (synthetic CPR numbers), claims and verifies outcomes and issues a statement.

It talks to the services over HTTP only, as the bootstrap operator and as the demo users (signing in with
authorisation code + PKCE like any UI). It is idempotent across restarts: what it made is recorded in
`<data dir>/demo.json`; when that partnership still exists it only signs the users in again for fresh
tokens (written to `<data dir>/demo-tokens.json` and printed).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from effekt.credentials import write_demo_tokens

PASSWORD = "Effekt-Demo-2026!"  # noqa: S105 - demo users on a local, single-user platform
SCOPES = (
    "openid profile email offline_access partners:read partners:write contracts:read contracts:write "
    "contracts:sign outcomes:read outcomes:write outcomes:verify feed:read webhooks:manage audit:read"
)
HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
REDIRECT_PATH = "/demo/callback"  # the demo web client's redirect; nothing needs to listen there

# (key, partner type, name, municipality code, membership role)
ORGANISATIONS = (
    ("herning", "municipality", "Herning Kommune", "657", "outcome_payer"),
    ("viborg", "municipality", "Viborg Kommune", "791", "outcome_payer"),
    ("provider", "provider", "Foreningen Job Nu", None, "provider"),
    ("investor", "investor", "Fonden for Social Investering", None, "investor"),
    ("evaluator", "evaluator", "Institut for Effektmåling", None, "evaluator"),
    ("adviser", "legal_adviser", "Advokatfirmaet Kontrakt & Co", None, "adviser"),
)


class SeedFailed(RuntimeError):
    """A service refused a step of the seed (the message names the call and its answer)."""


@dataclass
class Demo:
    partnership_id: str
    web_client_id: str
    users: dict[str, dict[str, str]]  # key -> {"email", "organisation_id", "partner_type"}


def _check(response: httpx.Response, *statuses: int) -> Any:
    if response.status_code not in (statuses or (200, 201)):
        call = f"{response.request.method} {response.request.url.path}"
        raise SeedFailed(f"{call}: {response.status_code} {response.text[:300]}")
    return response.json() if response.content else None


def _key() -> dict[str, str]:
    return {"Idempotency-Key": secrets.token_hex(12)}


def _cvr() -> str:
    weights = (2, 7, 6, 5, 4, 3, 2)
    while True:
        digits = [secrets.randbelow(9) + 1] + [secrets.randbelow(10) for _ in range(6)]
        check = (-sum(d * w for d, w in zip(digits, weights, strict=True))) % 11
        if check < 10:
            return "".join(map(str, digits)) + str(check)


def _cpr(index: int) -> str:
    born = date(1985, 1, 1) + timedelta(days=173 * index)
    return f"{born:%d%m%y}{secrets.randbelow(4000):04d}"


def _claims(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Seeder:
    def __init__(self, urls: dict[str, str], operator_id: str, operator_secret: str, data_dir: Path) -> None:
        self.urls = urls
        self.operator_id = operator_id
        self.operator_secret = operator_secret
        self.state_path = data_dir / "demo.json"
        self.tokens_path = data_dir / "demo-tokens.json"
        self.http = httpx.Client(timeout=60.0)

    def close(self) -> None:
        self.http.close()

    def url(self, service: str, path: str) -> str:
        return self.urls[service] + path

    # --- tokens --------------------------------------------------------------------------------------------

    def operator_token(self) -> str:
        response = self.http.post(
            self.url("identity", "/oauth2/token"),
            data={"grant_type": "client_credentials"},
            auth=(self.operator_id, self.operator_secret),
        )
        return str(_check(response, 200)["access_token"])

    def user_token(self, client_id: str, email: str) -> dict[str, str]:
        """Sign in as a browser would: authorisation code with PKCE, then the token exchange; the access
        and the refresh token (`effekt token` redeems it when the access token has expired)."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        redirect_uri = self.urls["gateway"] + REDIRECT_PATH
        with httpx.Client(base_url=self.urls["identity"], timeout=60.0) as browser:
            page = browser.get(
                "/oauth2/authorize",
                params={
                    "response_type": "code",
                    "client_id": client_id,
                    "redirect_uri": redirect_uri,
                    "scope": SCOPES,
                    "state": secrets.token_urlsafe(8),
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                },
            )
            if page.status_code != 200:
                raise SeedFailed(f"the sign-in page answered {page.status_code}: {page.text[:300]}")
            form = {
                name: unescape(value)
                for name, value in re.findall(
                    r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text
                )
            }
            form.update({"email": email, "password": PASSWORD, "decision": "allow"})
            redirect = browser.post("/oauth2/authorize", data=form)
            if redirect.status_code != 302:
                raise SeedFailed(f"signing in {email} failed: {redirect.status_code}")
            code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
            token = browser.post(
                "/oauth2/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "client_id": client_id,
                    "code_verifier": verifier,
                },
            )
        body = _check(token, 200)
        return {"token": str(body["access_token"]), "refresh_token": str(body["refresh_token"])}

    # --- the run -------------------------------------------------------------------------------------------

    def run(self) -> dict[str, dict[str, str]]:
        """Ensure the demo exists; return, per demo user, its organisation, e-mail and a fresh token."""
        operator = self.operator_token()
        demo = self._existing(operator) or self._create(operator)
        tokens = {
            key: {**user, **self.user_token(demo.web_client_id, user["email"])}
            for key, user in demo.users.items()
        }
        tokens["operator"] = {"partner_type": "operator", "email": "", "token": operator}
        write_demo_tokens(self.tokens_path.parent, tokens)
        return tokens

    def _existing(self, operator: str) -> Demo | None:
        if not self.state_path.exists():
            return None
        try:
            demo = Demo(**json.loads(self.state_path.read_text()))
        except (ValueError, TypeError):
            return None
        found = self.http.get(
            self.url("identity", f"/v1/partnerships/{demo.partnership_id}"), headers=_bearer(operator)
        )
        return demo if found.status_code == 200 else None  # the databases were reset: seed again

    def _create(self, operator: str) -> Demo:
        op = _bearer(operator)
        identity = self.urls["identity"]
        operator_org = _claims(operator)["org_id"]
        web = _check(
            self.http.post(
                f"{identity}/v1/organisations/{operator_org}/clients",
                headers=op,
                json={
                    "name": "Effekt demo web UI",
                    "client_type": "public",
                    "redirect_uris": [self.urls["gateway"] + REDIRECT_PATH],
                    "grant_types": ["authorization_code", "refresh_token"],
                    "scopes": SCOPES.split(),
                },
            )
        )
        partnership = _check(
            self.http.post(
                f"{identity}/v1/partnerships",
                headers={**op, **_key()},
                json={
                    "name": "Flygtninge i job - Midtjylland",
                    "description": "Refugees into lasting work, paid on outcomes.",
                },
            )
        )
        pid = partnership["id"]
        orgs: dict[str, dict[str, Any]] = {}
        users: dict[str, dict[str, str]] = {}
        for key, partner_type, name, code, role in ORGANISATIONS:
            body: dict[str, Any] = {"name": name, "partner_type": partner_type, "cvr": _cvr()}
            if code:
                body["municipality_code"] = code
            org = _check(self.http.post(f"{identity}/v1/organisations", headers=op, json=body))
            orgs[key] = org
            _check(
                self.http.post(
                    f"{identity}/v1/partnerships/{pid}/memberships",
                    headers={**op, **_key()},
                    json={"organisation_id": org["id"], "role": role},
                )
            )
            email = f"{key}-{secrets.token_hex(3)}@demo.effekt.dk"
            _check(
                self.http.post(
                    f"{identity}/v1/organisations/{org['id']}/users",
                    headers=op,
                    json={
                        "email": email,
                        "display_name": f"{name} (demo)",
                        "org_role": "signatory",
                        "password": PASSWORD,
                    },
                )
            )
            users[key] = {"email": email, "organisation_id": org["id"], "partner_type": partner_type}
        demo = Demo(partnership_id=pid, web_client_id=web["client_id"], users=users)
        self._activity(demo, orgs)
        self.state_path.write_text(json.dumps(demo.__dict__, indent=2))
        return demo

    def _activity(self, demo: Demo, orgs: dict[str, dict[str, Any]]) -> None:
        """A signed contract, enrolled participants, verified outcomes and an issued statement."""
        token = {
            key: _bearer(self.user_token(demo.web_client_id, u["email"])["token"])
            for key, u in demo.users.items()
        }
        contracts, outcomes = self.urls["contracts"], self.urls["outcomes"]
        today = datetime.now(UTC).date()
        created = _check(
            self.http.post(
                f"{contracts}/v1/contracts",
                headers={**token["provider"], **_key()},
                json={"partnership_id": demo.partnership_id, "terms": _terms(orgs, today)},
            )
        )
        contract_id, version_id = created["id"], created["versions"][0]["id"]
        proposed = _check(
            self.http.post(
                f"{contracts}/v1/contract-versions/{version_id}/proposal",
                headers={**token["provider"], **_key()},
            )
        )
        for signer in ("herning", "viborg", "provider"):
            _check(
                self.http.post(
                    f"{contracts}/v1/contract-versions/{version_id}/signatures",
                    headers={**token[signer], **_key()},
                    json={"content_hash": proposed["content_hash"]},
                )
            )
        participants: list[tuple[str, str]] = []
        for index in range(12):
            code, payer = ("657", "herning") if index % 3 else ("791", "viborg")
            enrolled = _check(
                self.http.post(
                    f"{outcomes}/v1/participants",
                    headers={**token["provider"], **_key()},
                    json={
                        "partnership_id": demo.partnership_id,
                        "contract_id": contract_id,
                        "cpr": _cpr(index),
                        "municipality_code": code,
                        "enrolment_date": (today - timedelta(days=150 - 5 * index)).isoformat(),
                        "cohort": "2026-A",
                        "municipal_reference": f"SAG-{code}-{1000 + index}",
                    },
                )
            )
            _check(
                self.http.post(
                    f"{outcomes}/v1/participants/{enrolled['id']}/eligibility-confirmation",
                    headers={**token[payer], **_key()},
                )
            )
            participants.append((enrolled["id"], payer))
        for index, (participant_id, payer) in enumerate(participants[:8]):
            claim = _check(
                self.http.post(
                    f"{outcomes}/v1/outcome-claims",
                    headers={**token["provider"], **_key()},
                    json={
                        "participant_id": participant_id,
                        "outcome_code": "job_start",
                        "achievement_date": (today - timedelta(days=40 - index)).isoformat(),
                        "evidence_reference": "eIndkomst extract",
                    },
                )
            )
            if index < 6:  # two stay pending, for the verification queue
                _check(
                    self.http.post(
                        f"{outcomes}/v1/outcome-claims/{claim['id']}/verification",
                        headers={**token[payer], **_key()},
                        json={"decision": "verified"},
                    )
                )
        start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        end = (start + timedelta(days=95)).replace(day=1) - timedelta(days=1)
        statement = _check(
            self.http.post(
                f"{outcomes}/v1/payment-statements",
                headers={**token["provider"], **_key()},
                json={
                    "contract_id": contract_id,
                    "payer_organisation_id": orgs["herning"]["id"],
                    "period_start": start.isoformat(),
                    "period_end": end.isoformat(),
                },
            )
        )
        _check(
            self.http.post(
                f"{outcomes}/v1/payment-statements/{statement['id']}/issue",
                headers={**token["provider"], **_key(), "If-Match": f'"{statement["version"]}"'},
            )
        )


def _terms(orgs: dict[str, dict[str, Any]], today: date) -> dict[str, Any]:
    def outcome(
        code: str, name: str, tariff: str, anchor: str | None, opens: int, closes: int
    ) -> dict[str, Any]:
        return {
            "code": code,
            "name": name,
            "description": "",
            "evidence_required": "Employment contract or eIndkomst extract",
            "verifier_roles": ["outcome_payer", "evaluator"] if anchor is None else ["outcome_payer"],
            "tariff": tariff,
            "max_per_participant": 1,
            "prerequisites": [anchor] if anchor else [],
            "window": {
                "anchor": "outcome" if anchor else "enrolment",
                "anchor_outcome": anchor,
                "opens_after_days": opens,
                "closes_after_days": closes,
            },
        }

    herning, viborg = orgs["herning"]["id"], orgs["viborg"]["id"]
    return {
        "schema_version": 1,
        "title": "Flygtninge i job - Midtjylland 2026-2028",
        "start_date": (today - timedelta(days=365)).isoformat(),
        "end_date": (today + timedelta(days=730)).isoformat(),
        "currency": "DKK",
        "target_group": "Refugees and family-reunified persons aged 18-64 receiving integration benefit",
        "eligibility_criteria": ["Resident in a paying municipality", "Receiving integration benefit"],
        "max_participants": 200,
        "payment_period": "quarterly",
        "payment_terms_days": 30,
        "parties": [
            {"organisation_id": herning, "role": "outcome_payer", "must_sign": True},
            {"organisation_id": viborg, "role": "outcome_payer", "must_sign": True},
            {"organisation_id": orgs["provider"]["id"], "role": "provider", "must_sign": True},
            {"organisation_id": orgs["investor"]["id"], "role": "investor", "must_sign": False},
        ],
        "outcomes": [
            outcome("job_start", "Job start", "25000.00", None, 0, 730),
            outcome("employed_13w", "Employed 13 weeks", "15000.00", "job_start", 91, 365),
            outcome("employed_26w", "Employed 26 weeks", "40000.00", "job_start", 182, 365),
        ],
        "caps": {"per_participant": "80000.00", "contract_total": "8000000.00", "per_period": None},
        "payer_split": {
            "method": "fixed",
            "shares": [
                {"organisation_id": herning, "percent": "60"},
                {"organisation_id": viborg, "percent": "40"},
            ],
        },
    }


def seed(
    urls: dict[str, str], operator_id: str, operator_secret: str, data_dir: Path
) -> dict[str, dict[str, str]]:
    seeder = Seeder(urls, operator_id, operator_secret, data_dir)
    try:
        return seeder.run()
    finally:
        seeder.close()


def describe(tokens: dict[str, dict[str, str]], gateway_url: str, tokens_path: Path) -> str:
    """How to act as each partner type, for the console."""
    lines = [
        "",
        "Demo partnership 'Flygtninge i job - Midtjylland' is ready. Act as a partner type in GraphiQL",
        f"({gateway_url}/graphql) with the header  Authorization: Bearer <token>  (tokens: {tokens_path}):",
    ]
    for key, user in tokens.items():
        who = user["email"] or "bootstrap operator client"
        lines.append(f"  {key:<10} {user['partner_type']:<13} {who}")
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
    return "\n".join(lines)
