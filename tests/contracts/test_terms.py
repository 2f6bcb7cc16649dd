"""Terms schema v1: the rules between fields, the canonical hash and the diff (pure logic)."""

from __future__ import annotations

import copy
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from effekt.sandbox.terms import Parties, caps, standard_terms
from services.contracts.terms import (
    check_terms,
    content_hash,
    diff_documents,
    normalised,
    parse_terms,
    proposal_issues,
)

PAYER_A, PAYER_B, PROVIDER, INVESTOR = (str(uuid4()) for _ in range(4))
PARTIES = Parties(PAYER_A, PAYER_B, PROVIDER, INVESTOR)


def document(**overrides: Any) -> dict[str, Any]:
    """The standard terms with every party signing and outcomes written out minimally: the schema's
    defaults for what they leave out are under test here."""
    minimal = {
        "title": "Flygtninge i job",
        "start_date": "2027-01-01",
        "end_date": "2029-12-31",
        "target_group": "Refugees aged 18-64",
        "outcomes": [
            {
                "code": "job_start",
                "name": "Job start",
                "verifier_roles": ["outcome_payer"],
                "tariff": "25000.00",
                "window": {"anchor": "enrolment", "closes_after_days": 730},
            },
            {
                "code": "employed_26w",
                "name": "Still employed after 26 weeks",
                "verifier_roles": ["outcome_payer"],
                "tariff": "40000",
                "prerequisites": ["job_start"],
                "window": {
                    "anchor": "outcome",
                    "anchor_outcome": "job_start",
                    "opens_after_days": 182,
                    "closes_after_days": 365,
                },
            },
        ],
        "caps": caps("65000.00", "5000000.00"),
    }
    return standard_terms(PARTIES, investor_signs=True, **(minimal | overrides))


def issues_of(doc: dict[str, Any]) -> dict[str, str]:
    return {i.path: i.reason for i in check_terms(parse_terms(doc))}


def test_the_documented_example_is_coherent_and_proposable() -> None:
    terms = parse_terms(document())
    assert check_terms(terms) == []
    assert proposal_issues(terms) == []


def test_money_is_normalised_to_the_currency_minor_unit() -> None:
    doc = normalised(parse_terms(document()))
    assert doc["outcomes"][1]["tariff"] == "40000.00"
    assert doc["caps"] == {"per_participant": "65000.00", "contract_total": "5000000.00", "per_period": None}
    assert doc["payer_split"]["shares"][0]["percent"] == "60"


@pytest.mark.parametrize(
    ("currency", "tariff", "exact"),
    [
        ("DKK", "25000.5", True),
        ("DKK", "25000.005", False),
        ("DKK", "25000.000", True),
        ("EUR", "0.01", True),
        ("ISK", "1500", True),
        ("ISK", "1500.5", False),
        ("JPY", "1.0", True),
        ("KWD", "1.005", True),
        ("KWD", "1.0005", False),
    ],
)
def test_tariffs_must_be_exact_to_the_minor_unit(currency: str, tariff: str, exact: bool) -> None:
    doc = document(currency=currency)
    doc["outcomes"][0]["tariff"] = tariff
    found = issues_of(doc)
    assert ("outcomes.0.tariff" in found) is not exact


def test_over_precise_caps_are_named() -> None:
    doc = document(caps={"per_participant": "1.001", "contract_total": None, "per_period": "5.5"})
    assert set(issues_of(doc)) == {"caps.per_participant"}


def test_an_unknown_currency_is_refused() -> None:
    assert "currency" in issues_of(document(currency="XYZ"))


@pytest.mark.parametrize("tariff", ["-1.00", -1, 25000.5, "NaN", "Infinity", "abc"])
def test_negative_non_finite_and_float_tariffs_do_not_parse(tariff: Any) -> None:
    doc = document()
    doc["outcomes"][0]["tariff"] = tariff
    with pytest.raises(ValidationError) as caught:
        parse_terms(doc)
    assert caught.value.errors()[0]["loc"][:3] == ("outcomes", 0, "tariff")


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError):
        parse_terms(document(bonus_scheme={"kind": "secret"}))


def test_end_before_start_is_named() -> None:
    assert "end_date" in issues_of(document(start_date="2028-01-01", end_date="2027-12-31"))


def test_unknown_prerequisite_is_named() -> None:
    doc = document()
    doc["outcomes"][1]["prerequisites"] = ["job_start", "degree"]
    assert "no outcome has the code 'degree'" in issues_of(doc)["outcomes.1.prerequisites.1"]


def test_a_prerequisite_cycle_is_refused() -> None:
    doc = document()
    doc["outcomes"][0]["prerequisites"] = ["employed_26w"]
    found = issues_of(doc)
    cycle = next(reason for path, reason in found.items() if path.endswith("prerequisites"))
    assert "cycle" in cycle
    assert "job_start" in cycle
    assert "employed_26w" in cycle


def test_a_longer_cycle_is_found() -> None:
    doc = document()
    third = copy.deepcopy(doc["outcomes"][0]) | {"code": "exam", "prerequisites": ["employed_26w"]}
    doc["outcomes"].append(third)
    doc["outcomes"][0]["prerequisites"] = ["exam"]
    assert any("cycle" in r for r in issues_of(doc).values())


def test_an_outcome_cannot_require_itself() -> None:
    doc = document()
    doc["outcomes"][0]["prerequisites"] = ["job_start"]
    assert "cannot require itself" in issues_of(doc)["outcomes.0.prerequisites.0"]


def test_duplicate_outcome_codes_are_named() -> None:
    doc = document()
    doc["outcomes"].append(copy.deepcopy(doc["outcomes"][0]))
    assert "duplicate" in issues_of(doc)["outcomes.2.code"]


@pytest.mark.parametrize(
    ("window", "path"),
    [
        ({"anchor": "outcome", "closes_after_days": 10}, "outcomes.1.window.anchor_outcome"),
        (
            {"anchor": "enrolment", "anchor_outcome": "job_start", "closes_after_days": 10},
            "outcomes.1.window.anchor_outcome",
        ),
        (
            {"anchor": "outcome", "anchor_outcome": "employed_26w", "closes_after_days": 10},
            "outcomes.1.window.anchor_outcome",
        ),
        (
            {"anchor": "enrolment", "opens_after_days": 20, "closes_after_days": 10},
            "outcomes.1.window.closes_after_days",
        ),
    ],
)
def test_window_anchors_must_make_sense(window: dict[str, Any], path: str) -> None:
    doc = document()
    doc["outcomes"][1]["window"] = window
    assert path in issues_of(doc)


def test_split_percentages_must_sum_to_exactly_100() -> None:
    doc = document()
    doc["payer_split"]["shares"][1]["percent"] = "39.99"
    assert "payer_split.shares" in issues_of(doc)


def test_split_shares_must_name_outcome_payer_parties() -> None:
    doc = document()
    doc["payer_split"]["shares"][1]["organisation_id"] = PROVIDER
    assert "payer_split.shares.1.organisation_id" in issues_of(doc)


def test_several_payers_need_a_split() -> None:
    assert "payer_split" in issues_of(document(payer_split=None))


def test_residence_split_names_payer_municipalities() -> None:
    doc = document(
        payer_split={
            "method": "residence",
            "municipalities": [
                {"organisation_id": PAYER_A, "municipality_code": "657"},
                {"organisation_id": INVESTOR, "municipality_code": "791"},
            ],
        }
    )
    assert set(issues_of(doc)) == {"payer_split.municipalities.1.organisation_id"}


def test_a_party_appears_once() -> None:
    doc = document()
    doc["parties"].append({"organisation_id": PROVIDER, "role": "investor", "must_sign": False})
    assert "parties.4.organisation_id" in issues_of(doc)


def test_a_proposal_needs_a_payer_and_a_provider() -> None:
    doc = document(payer_split=None)
    doc["parties"] = [{"organisation_id": INVESTOR, "role": "investor", "must_sign": True}]
    reasons = [i.reason for i in proposal_issues(parse_terms(doc))]
    assert any("outcome_payer" in r for r in reasons)
    assert any("provider" in r for r in reasons)


def test_content_hash_is_canonical_not_textual() -> None:
    a = normalised(parse_terms(document()))
    reordered = dict(reversed(list(a.items())))
    assert content_hash(a) == content_hash(reordered)
    changed = copy.deepcopy(a)
    changed["outcomes"][0]["tariff"] = "25000.01"
    assert content_hash(changed) != content_hash(a)
    # The same meaning written differently ("40000" vs "40000.00") hashes the same once normalised.
    other = document()
    other["outcomes"][1]["tariff"] = "40000.00"
    assert content_hash(normalised(parse_terms(other))) == content_hash(a)


def test_diff_addresses_outcomes_by_code() -> None:
    before = normalised(parse_terms(document()))
    after = copy.deepcopy(before)
    after["outcomes"][1]["tariff"] = "45000.00"
    after["outcomes"].insert(0, copy.deepcopy(after["outcomes"][0]) | {"code": "enrolled"})
    after["target_group"] = "Everyone"
    del after["eligibility_criteria"]
    diff = diff_documents(before, after)
    assert {"path": "outcomes.employed_26w.tariff", "from": "40000.00", "to": "45000.00"} in diff["changed"]
    assert [e["path"] for e in diff["added"]] == ["outcomes.enrolled"]
    assert [e["path"] for e in diff["removed"]] == ["eligibility_criteria"]
    assert {e["path"] for e in diff["changed"]} == {"outcomes.employed_26w.tariff", "target_group"}


def test_diff_of_identical_documents_is_empty() -> None:
    doc = normalised(parse_terms(document()))
    assert diff_documents(doc, copy.deepcopy(doc)) == {"added": [], "removed": [], "changed": []}


def test_a_sole_payer_gets_an_explicit_whole_share() -> None:
    doc = document(payer_split=None)
    doc["parties"] = [p for p in doc["parties"] if p["organisation_id"] != PAYER_B]
    terms = parse_terms(doc)
    assert check_terms(terms) == []
    assert normalised(terms)["payer_split"] == {
        "method": "fixed",
        "shares": [{"organisation_id": PAYER_A, "percent": "100"}],
    }


# Hashes of version-1 documents as the registry computed them before schema version 2 (main at 545605a):
# what parties already signed must still hash the same, or every stored signature would turn invalid.
SIGNED_BEFORE_V2 = {
    ("DKK", "25000", "40000.5"): "77338fdb8a36379d539c9b071d2b4bd5161822ebc5e7d6e6407eb68f9d147d82",
    ("JPY", "2500000", "4000000"): "f1711a2a81e78b08fd9e47bda17436db0384646d4eb4d4bb7a3f6fa7c37e32f4",
    ("ISK", "250000", "400000"): "01a5f01fbafcec4435902e11c9be9584d8cd5dbb6459d6b4b293cd0cac8f8ce5",
}


@pytest.mark.parametrize(("currency", "first", "second"), list(SIGNED_BEFORE_V2))
def test_version_1_documents_hash_as_they_did_before_version_2(
    currency: str, first: str, second: str
) -> None:
    a, b, provider, investor = (f"0b6c3c1e-5d1f-4a43-9d0e-6a5f0c1d2e0{n}" for n in range(1, 5))
    doc = {
        "title": "Flygtninge i job",
        "start_date": "2027-01-01",
        "end_date": "2029-12-31",
        "currency": currency,
        "max_participants": 200,
        "payment_period": "quarterly",
        "payment_terms_days": 30,
        "parties": [
            {"organisation_id": a, "role": "outcome_payer"},
            {"organisation_id": b, "role": "outcome_payer"},
            {"organisation_id": provider, "role": "provider"},
            {"organisation_id": investor, "role": "investor", "must_sign": False},
        ],
        "outcomes": [
            {
                "code": "job_start",
                "name": "Job start",
                "verifier_roles": ["outcome_payer"],
                "tariff": first,
                "window": {"closes_after_days": 730},
            },
            {
                "code": "employed_26w",
                "name": "Still employed",
                "verifier_roles": ["outcome_payer", "evaluator"],
                "tariff": second,
                "max_per_participant": 2,
                "prerequisites": ["job_start"],
                "window": {
                    "anchor": "outcome",
                    "anchor_outcome": "job_start",
                    "opens_after_days": 182,
                    "closes_after_days": 365,
                },
            },
        ],
        "caps": {
            "per_participant": "65000" if currency == "DKK" else None,
            "contract_total": None,
            "per_period": None,
        },
        "payer_split": {
            "method": "fixed",
            "shares": [{"organisation_id": a, "percent": "60.00"}, {"organisation_id": b, "percent": "40"}],
        },
        "termination": {"unilateral_roles": ["outcome_payer"], "notice_days": 90},
    }
    terms = parse_terms(doc)
    assert check_terms(terms) == []
    assert content_hash(normalised(terms)) == SIGNED_BEFORE_V2[(currency, first, second)]
