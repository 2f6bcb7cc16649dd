"""Version-2 terms written from published rate cards, for the registry's tests (and anyone's examples).

`employment_rate_card` follows the shape of the Danish refugee-employment deals (DSI) and the UK Life
Chances Fund's employment rate cards: a job start banded by hours (part-time 8-16 h a week, full-time from
16 h), full-time cheaper after the first 100 starts (of either band), dearer for the harder-to-help
segment; a start that can recur and is ended by losing the job; sustainment at 26 weeks in work; a
national outcome fund paying a fixed 30 % and a top-up of its own on sustainment, the municipality of
residence paying the rest. docs/contract-terms.md shows it; tests/outcomes/test_documented_rate_card.py
prices it through the API by the guide's figures.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tests.actors import Cast


def employment_rate_card(cast: Cast, fund: UUID, **overrides: Any) -> dict[str, Any]:
    payer_a, payer_b = str(cast.payer_a.organisation_id), str(cast.payer_b.organisation_id)
    doc: dict[str, Any] = {
        "schema_version": 2,
        "title": "Job og uddannelse - Herning, Viborg og Udfaldsfonden",
        "start_date": "2027-01-01",
        "end_date": "2029-12-31",
        "currency": "DKK",
        "target_group": "Refugees and family-reunified persons aged 18-64 on integration benefit",
        "max_participants": 400,
        "payment_period": "quarterly",
        "payment_terms_days": 30,
        "statement_basis": "achievement",
        "parties": [
            {"organisation_id": payer_a, "role": "outcome_payer", "must_sign": True},
            {"organisation_id": payer_b, "role": "outcome_payer", "must_sign": True},
            {"organisation_id": str(fund), "role": "outcome_payer", "must_sign": True},
            {"organisation_id": str(cast.provider.organisation_id), "role": "provider", "must_sign": True},
            {"organisation_id": str(cast.investor.organisation_id), "role": "investor", "must_sign": True},
        ],
        "facts": [
            {"name": "hours_per_week", "type": "decimal", "unit": "hours"},
            {"name": "weeks_in_work", "type": "integer", "unit": "weeks", "measure": "cumulative"},
            {"name": "off_benefit", "type": "boolean"},
            {"name": "qualification_level", "type": "choice", "choices": ["1", "2", "3"]},
        ],
        "segments": {"name": "vulnerability", "values": ["standard", "high"]},
        "outcomes": [
            {
                "code": "job_start",
                "name": "Job start",
                "evidence_required": "Employment contract",
                "verifier_roles": ["outcome_payer"],
                "window": {"closes_after_days": 730},
                "criteria": [{"fact": "off_benefit", "op": "eq", "value": True}],
                "repeat": {"max_per_participant": 3, "recurs": True},
                "ended_by": ["job_lost"],
                "bands": {
                    "fact": "hours_per_week",
                    "bands": [
                        {"code": "part_time", "from": "8", "to": "16", "tariff": "8000.00"},
                        {
                            "code": "full_time",
                            "from": "16",
                            "to": None,
                            "tiers": [
                                {
                                    "up_to": 100,
                                    "tariff": {"by_segment": {"standard": "20000.00", "high": "26000.00"}},
                                },
                                {"up_to": None, "tariff": "15000.00"},
                            ],
                        },
                    ],
                },
                "cap": {"count": 300},
            },
            {
                "code": "job_lost",
                "name": "Job lost",
                "verifier_roles": ["outcome_payer", "provider"],
                "window": {"closes_after_days": 1095},
                "tariff": "0.00",
            },
            {
                "code": "employed_26w",
                "name": "In work 26 weeks",
                "verifier_roles": ["outcome_payer"],
                "prerequisites": ["job_start"],
                "window": {
                    "anchor": "outcome",
                    "anchor_outcome": "job_start",
                    "opens_after_days": 182,
                    "closes_after_days": 365,
                },
                "criteria": [{"fact": "weeks_in_work", "op": "gte", "value": 26}],
                "tiers": [
                    {"up_to": 150, "tariff": {"by_segment": {"standard": "30000.00", "high": "40000.00"}}},
                    {"up_to": None, "tariff": {"by_segment": {"standard": "25000.00", "high": "32000.00"}}},
                ],
                "payer_tariffs": [{"organisation_id": str(fund), "tariff": "5000.00"}],
            },
            {
                "code": "qualification",
                "name": "Vocational qualification",
                "verifier_roles": ["outcome_payer"],
                "window": {"closes_after_days": 1095},
                "criteria": [{"fact": "qualification_level", "op": "in", "value": ["2", "3"]}],
                "tariff": "12000.00",
                "cap": {"amount": "600000.00"},
            },
        ],
        "caps": {
            "per_participant": "110000.00",
            "per_period": "2500000.00",
            "contract_total": "12000000.00",
            "per_payer": [{"organisation_id": str(fund), "amount": "4000000.00"}],
        },
        "payer_split": {
            "method": "mixed",
            "fixed": [{"organisation_id": str(fund), "percent": "30"}],
            "rest": {
                "method": "residence",
                "municipalities": [
                    {
                        "organisation_id": payer_a,
                        "municipality_code": cast.payer_a.municipality_code or "657",
                    },
                    {
                        "organisation_id": payer_b,
                        "municipality_code": cast.payer_b.municipality_code or "791",
                    },
                ],
            },
        },
    }
    doc.update(overrides)
    return doc
