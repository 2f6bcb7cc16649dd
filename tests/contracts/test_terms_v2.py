"""Terms schema version 2 through the registry's API: a realistic rate card is accepted, stored and
proposed; every bad-terms rule is a 422 naming the JSON path; version 1 is still accepted; currencies
carry their real ISO 4217 minor units."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from tests.actors import Cast
from tests.contracts.rate_cards import employment_rate_card
from tests.contracts.support import assert_problem, key, propose, read_version, sign, terms_for

Edit = Callable[[dict[str, Any]], None]
FUND = uuid4()  # a payer party of the rate card; validation alone does not ask identity about it


def put(path: str, value: Any) -> Edit:
    """Set the value at a dotted path ("outcomes.0.tariff"), creating the last key."""

    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return edit


def drop(path: str) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        del target[last]

    return edit


def both(*edits: Edit) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        for each in edits:
            each(doc)

    return edit


FULL_TIME = "outcomes.0.bands.bands.1"
SUSTAINED = "outcomes.2"
STRANGER = str(uuid4())

# case -> (edit, the invalid_params name, words its reason contains)
INVALID: dict[str, tuple[Edit, str, str]] = {
    # tiers
    "tiers out of order": (put(f"{SUSTAINED}.tiers", [{"up_to": 150, "tariff": "30000.00"},
                                                     {"up_to": 100, "tariff": "25000.00"},
                                                     {"up_to": None, "tariff": "20000.00"}]),
                           f"{SUSTAINED}.tiers.1.up_to", "above the previous tier's 150"),
    "tiers overlapping (equal bounds)": (put(f"{SUSTAINED}.tiers", [{"up_to": 150, "tariff": "30000.00"},
                                                                   {"up_to": 150, "tariff": "25000.00"},
                                                                   {"up_to": None, "tariff": "20000.00"}]),
                                         f"{SUSTAINED}.tiers.1.up_to", "do not overlap"),
    "an open tier before the last": (put(f"{FULL_TIME}.tiers.0.up_to", None), f"{FULL_TIME}.tiers.0.up_to",
                                     "only the last tier"),
    "the last tier closed": (put(f"{FULL_TIME}.tiers.1.up_to", 400), f"{FULL_TIME}.tiers.1.up_to",
                             "must be open"),
    # bands
    "bands with a gap": (put("outcomes.0.bands.bands.0.to", "15"), f"{FULL_TIME}.from", "gap after 15"),
    "bands overlapping": (put("outcomes.0.bands.bands.0.to", "17"), f"{FULL_TIME}.from", "overlaps"),
    "bands out of order": (put("outcomes.0.bands.bands.0.from", "20"), "outcomes.0.bands.bands.0.to",
                           "must be above `from`"),
    "an open band before the last": (put("outcomes.0.bands.bands.0.to", None), "outcomes.0.bands.bands.0.to",
                                     "only the last band"),
    "a band with a tariff and tiers": (put(f"{FULL_TIME}.tariff", "15000.00"), FULL_TIME, "exactly one"),
    "bands on an undeclared fact": (put("outcomes.0.bands.fact", "hours_a_week"), "outcomes.0.bands.fact",
                                    "no fact named 'hours_a_week'"),
    "bands on a boolean fact": (put("outcomes.0.bands.fact", "off_benefit"), "outcomes.0.bands.fact",
                                "is a boolean"),
    "fractional bounds on an integer fact": (
        both(put("outcomes.0.bands.fact", "weeks_in_work"), put("outcomes.0.bands.bands.0.to", "16.5"),
             put(f"{FULL_TIME}.from", "16.5")),
        "outcomes.0.bands.bands.0.to", "whole numbers"),
    # facts and criteria
    "a criterion on an undeclared fact": (put("outcomes.0.criteria.0.fact", "on_benefit"),
                                          "outcomes.0.criteria.0.fact", "no fact named 'on_benefit'"),
    "a boolean compared with a string": (put("outcomes.0.criteria.0.value", "yes"),
                                         "outcomes.0.criteria.0.value", "true or false"),
    "an integer compared with a decimal string": (put(f"{SUSTAINED}.criteria.0.value", "26"),
                                                  f"{SUSTAINED}.criteria.0.value", "JSON integer"),
    "a boolean compared by order": (put("outcomes.0.criteria.0.op", "gt"), "outcomes.0.criteria.0.op",
                                    "compares numbers"),
    "a choice that is not one": (put("outcomes.3.criteria.0.value", ["2", "4"]),
                                 "outcomes.3.criteria.0.value.1", "`qualification_level` is one of"),
    "`in` without a list": (put("outcomes.3.criteria.0.value", "2"), "outcomes.3.criteria.0.value",
                            "non-empty list"),
    "a list without `in`": (put("outcomes.3.criteria.0.op", "eq"), "outcomes.3.criteria.0.value",
                            "a list is for `in`"),
    "a criterion value as a float": (put(f"{SUSTAINED}.criteria.0.value", 26.5),
                                     f"{SUSTAINED}.criteria.0.value", "not a JSON number"),
    "an endless `in` list": (put("outcomes.3.criteria.0.value", ["2"] * 101), "outcomes.3.criteria.0.value",
                             "at most 100"),
    "a criterion value that is an object": (put("outcomes.0.criteria.0.value", {"is": True}),
                                            "outcomes.0.criteria.0.value", "true/false"),
    "a fact declared twice": (put("facts.1.name", "hours_per_week"), "facts.1.name", "duplicate fact"),
    "a fact of an unknown type": (put("facts.0.type", "float"), "facts.0.type",
                                  "must be one of `decimal`, `integer`, `boolean`, `choice`"),
    "a choice fact without choices": (drop("facts.3.choices"), "facts.3.choices", "Field required"),
    # segments
    "a price for an unknown segment": (put(f"{SUSTAINED}.tiers.0.tariff.by_segment.medium", "35000.00"),
                                       f"{SUSTAINED}.tiers.0.tariff.by_segment.medium",
                                       "not a value of the segmentation `vulnerability`"),
    "a segment left unpriced": (drop(f"{FULL_TIME}.tiers.0.tariff.by_segment.high"),
                                f"{FULL_TIME}.tiers.0.tariff.by_segment", "`high` unpriced"),
    "segment prices without segments": (drop("segments"), f"{FULL_TIME}.tiers.0.tariff.by_segment",
                                        "declare no `segments`"),
    "a segment listed twice": (put("segments.values", ["standard", "high", "high"]), "segments.values",
                               "each segment once"),
    # pricing
    "an outcome with a tariff and tiers": (put(f"{SUSTAINED}.tariff", "30000.00"), SUSTAINED,
                                           "exactly one of `tariff`, `tiers` or `bands`"),
    "an outcome without a price": (drop("outcomes.1.tariff"), "outcomes.1", "exactly one"),
    "a tariff past the minor unit": (put(f"{FULL_TIME}.tiers.1.tariff", "15000.005"),
                                     f"{FULL_TIME}.tiers.1.tariff", "2 decimal places"),
    # verification: never by a role that reads no claim, nor by the investor paid from it
    "an investor as verifier": (put("outcomes.0.verifier_roles", ["outcome_payer", "investor"]),
                                "outcomes.0.verifier_roles.1",
                                "should be 'outcome_payer', 'evaluator' or 'provider'"),
    "an observer as verifier": (put("outcomes.1.verifier_roles", ["observer"]), "outcomes.1.verifier_roles.0",
                                "should be 'outcome_payer'"),
    # repeats and restarts
    "ended by an unknown outcome": (put("outcomes.0.ended_by", ["job_quit"]), "outcomes.0.ended_by.0",
                                    "no outcome has the code 'job_quit'"),
    "ended by itself": (put("outcomes.0.ended_by", ["job_start"]), "outcomes.0.ended_by.0", "end itself"),
    "too many repeats": (put("outcomes.0.repeat.max_per_participant", 0),
                         "outcomes.0.repeat.max_per_participant", "greater than or equal to 1"),
    # caps
    "a payer maximum above the contract total": (put("caps.per_payer.0.amount", "13000000.00"),
                                                 "caps.per_payer.0.amount", "exceeds the contract's total"),
    "a participant cap above the contract total": (put("caps.per_participant", "13000000.00"),
                                                   "caps.per_participant", "exceeds the contract's total"),
    "a period cap above the contract total": (put("caps.per_period", "13000000.00"), "caps.per_period",
                                              "exceeds the contract's total"),
    "an outcome cap above the contract total": (put("outcomes.3.cap.amount", "13000000.00"),
                                                "outcomes.3.cap.amount", "exceeds the contract's total"),
    "an empty outcome cap": (put("outcomes.3.cap", {}), "outcomes.3.cap", "give a `count`, an `amount`"),
    "a payer maximum for a stranger": (put("caps.per_payer.0.organisation_id", STRANGER),
                                       "caps.per_payer.0.organisation_id", "must be an outcome_payer party"),
    "two maxima for one payer": (put("caps.per_payer", [{"organisation_id": str(FUND), "amount": "1.00"},
                                                        {"organisation_id": str(FUND), "amount": "2.00"}]),
                                 "caps.per_payer.1.organisation_id", "one maximum"),
    # payers
    "a payer tariff for a stranger": (put(f"{SUSTAINED}.payer_tariffs.0.organisation_id", STRANGER),
                                      f"{SUSTAINED}.payer_tariffs.0.organisation_id",
                                      "must be an outcome_payer party"),
    "fixed shares leaving no rest": (put("payer_split.fixed.0.percent", "100"), "payer_split.fixed",
                                     "leave a rest"),
    "a split payer who is not a party": (put("payer_split.rest.municipalities.0.organisation_id", STRANGER),
                                         "payer_split.rest.municipalities.0.organisation_id",
                                         "must be an outcome_payer party"),
    "an unknown split method": (put("payer_split.method", "proportional"), "payer_split.method",
                                "must be one of `fixed`, `residence`, `mixed`"),
    # unknown keys
    "a misspelt key": (put(f"{SUSTAINED}.tires", []), f"{SUSTAINED}.tires",
                       "unknown field `tires`; did you mean `tiers`?"),
    "a misspelt nested key": (put("caps.per_payers", []), "caps.per_payers",
                              "unknown field `per_payers`; did you mean `per_payer`?"),
    "an unknown key": (put("bonus_scheme", {"kind": "secret"}), "bonus_scheme",
                       "unknown field `bonus_scheme`"),
    "an unknown schema version": (put("schema_version", 3), "schema_version", "must be one of `1`, `2`"),
}  # fmt: skip


async def _validate(contracts: httpx.AsyncClient, cast: Cast, doc: dict[str, Any]) -> httpx.Response:
    return await contracts.post("/v1/terms-validations", json=doc, headers=cast.provider.headers)


async def test_a_rate_card_with_every_mechanism_is_valid_and_normalised(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    doc = employment_rate_card(shared_cast, FUND)
    doc["outcomes"][0]["bands"]["bands"][1]["from"] = 16  # a JSON integer bound reads as "16"
    response = await _validate(contracts, shared_cast, doc)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["schema_version"] == 2
    assert body["proposal_issues"] == []
    terms = body["terms"]
    full_time = terms["outcomes"][0]["bands"]["bands"][1]
    assert full_time["from"] == "16"
    assert full_time["tiers"][0]["tariff"] == {"by_segment": {"standard": "20000.00", "high": "26000.00"}}
    assert terms["outcomes"][1]["repeat"] == {"max_per_participant": 1, "recurs": False}
    assert terms["payer_split"]["fixed"] == [{"organisation_id": str(FUND), "percent": "30"}]
    # The same document written differently is the same contract: the same hash.
    spelled = employment_rate_card(shared_cast, FUND)
    spelled["caps"]["contract_total"] = "12000000"
    spelled["payer_split"]["fixed"][0]["percent"] = "30.00"
    again = await _validate(contracts, shared_cast, spelled)
    assert again.json()["content_hash"] == body["content_hash"]


@pytest.mark.parametrize("case", list(INVALID))
async def test_bad_terms_are_refused_naming_the_path(
    contracts: httpx.AsyncClient, shared_cast: Cast, case: str
) -> None:
    edit, field, words = INVALID[case]
    doc = employment_rate_card(shared_cast, FUND)
    edit(doc)
    body = assert_problem(
        await _validate(contracts, shared_cast, doc), 422, "validation-failed", f"body.{field}"
    )
    reasons = [p["reason"] for p in body["invalid_params"] if p["name"] == f"body.{field}"]
    assert any(words in reason for reason in reasons), body["invalid_params"]


async def test_a_misspelt_key_in_a_draft_is_named_at_its_path(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    doc = employment_rate_card(shared_cast, FUND)
    doc["outcomes"][0]["bands"]["bands"][0]["tarif"] = doc["outcomes"][0]["bands"]["bands"][0].pop("tariff")
    response = await contracts.post(
        "/v1/contracts",
        json={"partnership_id": str(shared_cast.partnership_id), "terms": doc},
        headers=shared_cast.provider.headers | key(),
    )
    body = assert_problem(response, 422, "validation-failed", "body.terms.outcomes.0.bands.bands.0.tarif")
    assert {"name": "body.terms.outcomes.0.bands.bands.0.tarif",
            "reason": "unknown field `tarif`; did you mean `tariff`?"} in body["invalid_params"]  # fmt: skip


async def test_version_1_is_still_accepted_and_its_misspellings_named(
    contracts: httpx.AsyncClient, shared_cast: Cast
) -> None:
    v1 = terms_for(shared_cast)
    accepted = await _validate(contracts, shared_cast, v1)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["schema_version"] == 1
    assert accepted.json()["terms"]["outcomes"][0]["max_per_participant"] == 1
    unversioned = copy.deepcopy(v1)
    del unversioned["schema_version"]  # a document from before versions were written is version 1
    assert (await _validate(contracts, shared_cast, unversioned)).json()["content_hash"] == accepted.json()[
        "content_hash"
    ]
    v1["outcomes"][0]["max_per_participants"] = 2
    body = assert_problem(
        await _validate(contracts, shared_cast, v1), 422, field="body.outcomes.0.max_per_participants"
    )
    assert body["invalid_params"][0]["reason"] == (
        "unknown field `max_per_participants`; did you mean `max_per_participant`?"
    )
    # Version-2 mechanisms are not version 1's: a v1 outcome with tiers is told so.
    v1 = terms_for(shared_cast)
    v1["outcomes"][0]["tiers"] = []
    body = assert_problem(await _validate(contracts, shared_cast, v1), 422, field="body.outcomes.0.tiers")
    assert body["invalid_params"][0]["reason"] == "unknown field `tiers`"


CURRENCIES: dict[str, tuple[str, str, int]] = {
    # currency -> (an exact amount, one with a digit too many, status for the exact one)
    "ARS": ("25000.50", "25000.505", 200),
    "BHD": ("1250.125", "1250.1255", 200),
    "KWD": ("900.250", "900.2501", 200),
    "JPY": ("2500000", "2500000.5", 200),
    "ISK": ("2500000", "2500000.1", 200),
}


@pytest.mark.parametrize("currency", list(CURRENCIES))
@pytest.mark.parametrize("version", [1, 2])
async def test_every_iso_currency_prices_to_its_own_minor_unit(
    contracts: httpx.AsyncClient, shared_cast: Cast, currency: str, version: int
) -> None:
    exact, too_precise, _ = CURRENCIES[currency]

    def doc(amount: str) -> tuple[dict[str, Any], str]:
        if version == 1:
            terms = terms_for(shared_cast, currency=currency)
            terms["caps"] = {"per_participant": None, "contract_total": None, "per_period": None}
            terms["outcomes"][0]["tariff"] = amount
            return terms, "body.outcomes.0.tariff"
        terms = employment_rate_card(shared_cast, FUND, currency=currency)
        terms["caps"] = {}
        terms["outcomes"][0]["bands"]["bands"][0]["tariff"] = amount
        return terms, "body.outcomes.0.bands.bands.0.tariff"

    terms, _ = doc(exact)
    accepted = await _validate(contracts, shared_cast, terms)
    assert accepted.status_code == 200, accepted.text
    if version == 1:
        assert accepted.json()["terms"]["outcomes"][0]["tariff"] == exact
    else:
        assert accepted.json()["terms"]["outcomes"][0]["bands"]["bands"][0]["tariff"] == exact
    terms, field = doc(too_precise)
    body = assert_problem(await _validate(contracts, shared_cast, terms), 422, "validation-failed", field)
    assert currency in {p["name"]: p["reason"] for p in body["invalid_params"]}[field]


@pytest.mark.parametrize(
    ("currency", "words"),
    [
        ("XAU", "not an active ISO 4217 currency with a minor unit"),  # gold: no minor unit
        ("XTS", "not an active ISO 4217 currency with a minor unit"),  # the testing code
        ("DEM", "not an active ISO 4217 currency with a minor unit"),  # withdrawn in 2002
        ("CLF", "4 decimals; the outcome service stores 3"),  # a unit of account past the stored scale
    ],
)
async def test_currencies_without_a_storable_minor_unit_are_refused(
    contracts: httpx.AsyncClient, shared_cast: Cast, currency: str, words: str
) -> None:
    for terms in (
        terms_for(shared_cast, currency=currency),
        employment_rate_card(shared_cast, FUND, currency=currency),
    ):
        body = assert_problem(await _validate(contracts, shared_cast, terms), 422, field="body.currency")
        assert words in body["invalid_params"][0]["reason"], body


async def test_a_version_2_contract_is_drafted_stored_and_proposed(
    contracts: httpx.AsyncClient, cast: Cast
) -> None:
    # The cast's two municipalities pay: Viborg a fixed 30 % and a top-up of its own, residence the rest.
    payer_a, payer_b = cast.payer_a.organisation_id, cast.payer_b.organisation_id
    doc = employment_rate_card(cast, payer_b)
    del doc["parties"][2]  # Viborg is a party once
    created = await contracts.post(
        "/v1/contracts",
        json={"partnership_id": str(cast.partnership_id), "terms": doc},
        headers=cast.provider.headers | key(),
    )
    assert created.status_code == 201, created.text
    version_id = created.json()["versions"][0]["id"]
    draft = await read_version(contracts, cast.provider, version_id)
    validated = await _validate(contracts, cast, doc)
    assert draft["terms"] == validated.json()["terms"]
    proposed = await propose(contracts, cast.provider, version_id)
    assert proposed["content_hash"] == validated.json()["content_hash"]
    assert set(map(UUID, proposed["required_signatories"])) == {
        payer_a,
        cast.payer_b.organisation_id,
        cast.provider.organisation_id,
        cast.investor.organisation_id,
    }


def _two_municipality_card(cast: Cast) -> dict[str, Any]:
    """The rate card with Viborg as the payer of the fixed share (no third organisation needed)."""
    doc = employment_rate_card(cast, cast.payer_b.organisation_id)
    del doc["parties"][2]
    return doc


async def _activate(contracts: httpx.AsyncClient, cast: Cast, doc: dict[str, Any]) -> str:
    created = await contracts.post(
        "/v1/contracts",
        json={"partnership_id": str(cast.partnership_id), "terms": doc},
        headers=cast.provider.headers | key(),
    )
    assert created.status_code == 201, created.text
    version_id = created.json()["versions"][0]["id"]
    await propose(contracts, cast.provider, version_id)
    for actor in (cast.payer_a, cast.payer_b, cast.provider, cast.investor):
        version = await sign(contracts, actor, version_id)
    assert version["status"] == "active", version
    return str(created.json()["id"])


async def _propose_amendment(
    contracts: httpx.AsyncClient, cast: Cast, contract_id: str, doc: dict[str, Any]
) -> httpx.Response:
    amended = await contracts.post(
        f"/v1/contracts/{contract_id}/amendments", json={"terms": doc}, headers=cast.provider.headers | key()
    )
    assert amended.status_code == 201, amended.text
    return await contracts.post(
        f"/v1/contract-versions/{amended.json()['id']}/proposal", headers=cast.provider.headers | key()
    )


async def test_an_amendment_re_maps_segment_prices_but_keeps_the_segmentation(
    contracts: httpx.AsyncClient, cast: Cast
) -> None:
    contract_id = await _activate(contracts, cast, _two_municipality_card(cast))
    regrouped = _two_municipality_card(cast)
    regrouped["segments"]["values"] = ["standard", "high", "very_high"]
    for tier in regrouped["outcomes"][2]["tiers"]:
        tier["tariff"]["by_segment"]["very_high"] = "50000.00"
    regrouped["outcomes"][0]["bands"]["bands"][1]["tiers"][0]["tariff"]["by_segment"]["very_high"] = (
        "30000.00"
    )
    refused = await _propose_amendment(contracts, cast, contract_id, regrouped)
    body = assert_problem(refused, 422, "validation-failed", "terms.segments")
    assert "keeps the segmentation `vulnerability` (high, standard)" in body["invalid_params"][0]["reason"]
    contract = await contracts.get(f"/v1/contracts/{contract_id}", headers=cast.provider.headers)
    refused_draft = contract.json()["versions"][-1]["id"]
    withdrawn = await contracts.post(
        f"/v1/contract-versions/{refused_draft}/withdrawal", json={}, headers=cast.provider.headers | key()
    )
    assert withdrawn.status_code == 200, withdrawn.text
    # Dearer prices for the high segment from July 2027: the same segmentation, re-mapped.
    remapped = _two_municipality_card(cast)
    remapped["start_date"] = "2027-07-01"
    remapped["outcomes"][2]["tiers"][0]["tariff"]["by_segment"]["high"] = "45000.00"
    accepted = await _propose_amendment(contracts, cast, contract_id, remapped)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["supersedes_id"] is not None


async def test_segments_cannot_be_added_to_a_contract_whose_participants_have_none(
    contracts: httpx.AsyncClient, cast: Cast
) -> None:
    doc = _two_municipality_card(cast)
    unsegmented = copy.deepcopy(doc)
    del unsegmented["segments"]
    for tier in unsegmented["outcomes"][2]["tiers"]:
        tier["tariff"] = tier["tariff"]["by_segment"]["standard"]
    unsegmented["outcomes"][0]["bands"]["bands"][1]["tiers"][0]["tariff"] = "20000.00"
    contract_id = await _activate(contracts, cast, unsegmented)
    refused = await _propose_amendment(contracts, cast, contract_id, doc)
    body = assert_problem(refused, 422, "validation-failed", "terms.segments")
    assert "enrolled participants have none" in body["invalid_params"][0]["reason"]
