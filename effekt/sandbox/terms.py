"""The standard terms document: a refugee-employment contract between two municipalities paying 60/40, a
provider and an investor, running from three years ago to two years ahead, with three outcomes under
per-participant and contract-wide caps.

Each caller states only what differs: `standard_terms(parties, caps=..., title=...)` replaces whole
top-level fields (a new field is appended), and `outcome`, `party`, `caps` and `fixed_split` build the
pieces. The document is written in the schema's field order. A new schema field gets its default here,
once; a new schema version bumps `schema_version` here and its new pieces get a builder beside `outcome`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

EVIDENCE = "Employment contract or eIndkomst extract"
TARGET_GROUP = "Refugees and family-reunified persons aged 18-64 receiving integration benefit"


@dataclass(frozen=True)
class Parties:
    """Who the standard contract binds (organisation ids)."""

    payer_a: UUID | str
    payer_b: UUID | str
    provider: UUID | str
    investor: UUID | str


def outcome(
    code: str,
    tariff: str,
    *,
    name: str | None = None,
    description: str = "",
    evidence: str = EVIDENCE,
    verifiers: Iterable[str] = ("outcome_payer",),
    prerequisites: Iterable[str] | None = None,
    anchor: str | None = None,
    opens: int = 0,
    closes: int = 730,
    max_per_participant: int = 1,
) -> dict[str, Any]:
    """An outcome whose window opens `opens` days after enrolment, or after the `anchor` outcome (which
    is then its prerequisite unless `prerequisites` says otherwise)."""
    return {
        "code": code,
        "name": name or code.replace("_", " ").capitalize(),
        "description": description,
        "evidence_required": evidence,
        "verifier_roles": list(verifiers),
        "tariff": tariff,
        "max_per_participant": max_per_participant,
        "prerequisites": list(prerequisites) if prerequisites else ([anchor] if anchor else []),
        "window": {
            "anchor": "outcome" if anchor else "enrolment",
            "anchor_outcome": anchor,
            "opens_after_days": opens,
            "closes_after_days": closes,
        },
    }


def standard_outcomes() -> list[dict[str, Any]]:
    """Job start (verified by a payer or the evaluator), then still employed after 13 and 26 weeks."""
    return [
        outcome("job_start", "25000.00", verifiers=("outcome_payer", "evaluator")),
        outcome("employed_13w", "12345.67", anchor="job_start", opens=91, closes=365),
        outcome("employed_26w", "40000.00", anchor="job_start", opens=182, closes=365),
    ]


def party(organisation_id: UUID | str, role: str, *, must_sign: bool = True) -> dict[str, Any]:
    return {"organisation_id": str(organisation_id), "role": role, "must_sign": must_sign}


def caps(
    per_participant: str | None, contract_total: str | None, per_period: str | None = None
) -> dict[str, str | None]:
    return {"per_participant": per_participant, "contract_total": contract_total, "per_period": per_period}


def fixed_split(shares: Mapping[UUID | str, str]) -> dict[str, Any]:
    """Payers' fixed shares in percent (organisation id -> "60")."""
    return {
        "method": "fixed",
        "shares": [{"organisation_id": str(org), "percent": percent} for org, percent in shares.items()],
    }


def standard_terms(
    parties: Parties, *, investor_signs: bool = False, today: date | None = None, **overrides: Any
) -> dict[str, Any]:
    """The standard document for `parties`, dated around `today` (UTC), with `overrides` replacing fields."""
    today = today or datetime.now(UTC).date()
    document: dict[str, Any] = {
        "schema_version": 1,
        "title": f"Flygtninge i job {secrets.token_hex(2)}",
        "start_date": (today - timedelta(days=3 * 365)).isoformat(),
        "end_date": (today + timedelta(days=2 * 365)).isoformat(),
        "currency": "DKK",
        "target_group": TARGET_GROUP,
        "eligibility_criteria": ["Resident in a paying municipality"],
        "max_participants": 200,
        "payment_period": "quarterly",
        "payment_terms_days": 30,
        "parties": [
            party(parties.payer_a, "outcome_payer"),
            party(parties.payer_b, "outcome_payer"),
            party(parties.provider, "provider"),
            party(parties.investor, "investor", must_sign=investor_signs),
        ],
        "outcomes": standard_outcomes(),
        "caps": caps("60000.00", "500000.00"),
        "payer_split": fixed_split({parties.payer_a: "60", parties.payer_b: "40"}),
    }
    document.update(overrides)
    return document


def window(**extra: Any) -> dict[str, Any]:
    """An achievement window open from enrolment for two years; `extra` replaces its fields."""
    return {
        "anchor": "enrolment",
        "anchor_outcome": None,
        "opens_after_days": 0,
        "closes_after_days": 730,
    } | extra


def v2_terms(
    parties: Parties,
    *,
    outcomes: list[dict[str, Any]],
    caps: Mapping[str, Any],
    split: Mapping[str, Any],
    today: date | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A schema-version-2 document of the standard shape (parties, dates, currency) declaring the facts the
    rate-card examples report (hours a week, off benefit), with the caller's outcomes, caps and split."""
    today = today or datetime.now(UTC).date()
    return {
        "schema_version": 2,
        "title": f"Flygtninge i job v2 {secrets.token_hex(2)}",
        "start_date": (today - timedelta(days=3 * 365)).isoformat(),
        "end_date": (today + timedelta(days=2 * 365)).isoformat(),
        "currency": "DKK",
        "max_participants": 200,
        "payment_period": "quarterly",
        "payment_terms_days": 30,
        "parties": [
            party(parties.payer_a, "outcome_payer"),
            party(parties.payer_b, "outcome_payer"),
            party(parties.provider, "provider"),
            party(parties.investor, "investor", must_sign=False),
        ],
        "facts": [
            {"name": "hours_per_week", "type": "decimal", "unit": "hours"},
            {"name": "off_benefit", "type": "boolean"},
        ],
        "outcomes": outcomes,
        "caps": dict(caps),
        "payer_split": dict(split),
    } | extra


def tranche(
    code: str,
    payer: UUID | str,
    payments: Iterable[tuple[date, str]],
    *,
    kind: str = "fixed",
    name: str | None = None,
) -> dict[str, Any]:
    """A schema-version-2 tranche: `payments` as (due date, amount) pairs, paid by `payer` whatever the
    outcomes (`kind` `fixed` or `guaranteed`)."""
    return {
        "code": code,
        "name": name or code.replace("_", " ").capitalize(),
        "kind": kind,
        "payer_organisation_id": str(payer),
        "payments": [{"due_date": day.isoformat(), "amount": amount} for day, amount in payments],
    }


def indexation(*steps: tuple[date, str, str], base_index: str | None = None) -> dict[str, Any]:
    """A schema-version-2 `indexation`: steps as (from, "percent" or "index", value) triples."""
    return {
        "base_index": base_index,
        "steps": [{"from": day.isoformat(), kind: value} for day, kind, value in steps],
    }


def variation(
    code: str,
    start: date,
    end: date,
    payments: Iterable[tuple[UUID | str, str]],
    *,
    scenario: str = "medium",
    currency: str = "DKK",
    reason: str = "",
) -> dict[str, Any]:
    """A schema-version-2 temporary variation: from `start` (a month's first day) to `end` (a month's last),
    each (payer, monthly amount) paid instead of outcome prices."""
    return {
        "code": code,
        "scenario": scenario,
        "reason": reason,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "currency": currency,
        "payments": [
            {"payer_organisation_id": str(payer), "monthly_amount": amount} for payer, amount in payments
        ],
    }


def cohort_outcome(
    code: str,
    payer: UUID | str,
    horizon: tuple[date, date],
    *,
    share_percent: str = "30",
    cap: str = "1000000.00",
    max_cohort_size: int = 1000,
    may_be_negative: bool = False,
    name: str | None = None,
) -> dict[str, Any]:
    """A schema-version-2 cohort outcome on the Finnish employment SIB's model: a share of the measured
    gain in benefits paid (lower is better) and taxes paid (higher) against a randomised control group."""
    return {
        "code": code,
        "name": name or code.replace("_", " ").capitalize(),
        "payer_organisation_id": str(payer),
        "comparison": "randomised_control",
        "measures": [
            {"code": "benefits_paid", "name": "Benefits paid per person", "better": "lower"},
            {"code": "taxes_paid", "name": "Income taxes paid per person", "better": "higher"},
        ],
        "share_percent": share_percent,
        "horizon": {"start": horizon[0].isoformat(), "end": horizon[1].isoformat()},
        "max_cohort_size": max_cohort_size,
        "cap": cap,
        "may_be_negative": may_be_negative,
    }
