"""Open data through the public API (docs/open-data.md): disclosure statuses set by the terms and the
outcome payers, audited; the INDIGO and OCDS exports of a realistic partnership valid against the
standards' schemas (docs/open-data/, checked with `jsonschema`); a private block never in an export,
block by block; the public read without a token; a block leaving `public` announced in the change log.

One partnership per module: a signed contract whose terms publish the title and keep the caps private,
amended once with a rationale, seven participants, six job starts verified in one month and one in
another (so with the default threshold of 5 one cell is shown and one withheld).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from jsonschema import Draft4Validator, Draft7Validator, FormatChecker
from referencing import Registry, Resource

from effekt.sandbox.cast import Actor, Cast
from effekt.sandbox.identifiers import synthetic_cpr
from kit import cells
from kit.problems import TooManyRequests
from services.contracts.disclosure import fields
from services.contracts.disclosure.limits import PerAddressLimit
from tests.contracts.support import key, propose, sign, signers, terms_for
from tests.outcomes.support import TODAY, check, claim, confirm, decide, enrol

STANDARDS = Path(__file__).resolve().parents[2] / "docs" / "open-data"
RATIONALE = "Job starts are priced higher after the first evaluation round"
TARGET_GROUP = "Refugees and family-reunified persons aged 18-64"
ENROLLED = TODAY - timedelta(days=90)


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((STANDARDS / name).read_text())
    return loaded


def indigo_errors(document: dict[str, Any]) -> list[str]:
    validator = Draft7Validator(schema("indigo-project-2.3.0.schema.json"), format_checker=FormatChecker())
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def ocds_errors(document: dict[str, Any]) -> list[str]:
    release = schema("ocds-release-1.1.5.schema.json")
    package = schema("ocds-record-package-1.1.5.schema.json")
    registry: Registry[Any] = Registry().with_resources(
        [(release["id"], Resource.from_contents(release)), (package["id"], Resource.from_contents(package))]
    )
    validator = Draft4Validator(package, registry=registry, format_checker=FormatChecker())
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


class Scene:
    def __init__(
        self, cast: Cast, contract_id: str, versions: list[str], identifiers: dict[str, str]
    ) -> None:
        self.cast = cast
        self.contract_id = contract_id
        self.versions = versions
        self.identifiers = identifiers  # organisation id -> org-id


@pytest.fixture(scope="module")
async def scene(shared_cast: Cast, platform: Any) -> Scene:
    cast = shared_cast
    async with (
        httpx.AsyncClient(base_url=platform.url("contracts"), timeout=60) as contracts,
        httpx.AsyncClient(base_url=platform.url("outcomes"), timeout=60) as outcomes,
        httpx.AsyncClient(base_url=platform.url("identity"), timeout=60) as identity,
    ):
        start = (TODAY - timedelta(days=365)).isoformat()
        terms = terms_for(
            cast,
            start_date=start,
            end_date=(TODAY + timedelta(days=700)).isoformat(),
            target_group=TARGET_GROUP,
            disclosure={"contract.title": "public", "contract.caps": "private"},
        )
        created = check(
            await contracts.post(
                "/v1/contracts",
                json={"partnership_id": str(cast.partnership_id), "terms": terms},
                headers=cast.provider.headers | key(),
            ),
            201,
        )
        first = created["versions"][0]["id"]
        await propose(contracts, cast.provider, first)
        for signer in signers(cast):
            await sign(contracts, signer, first)
        amended_terms = dict(terms, title=terms["title"] + " (amended)")
        amended_terms["outcomes"] = [dict(terms["outcomes"][0], tariff="27500.00"), terms["outcomes"][1]]
        amended = check(
            await contracts.post(
                f"/v1/contracts/{created['id']}/amendments",
                json={"terms": amended_terms, "rationale": RATIONALE},
                headers=cast.payer_a.headers | key(),
            ),
            201,
        )
        assert amended["rationale"] == RATIONALE
        await propose(contracts, cast.provider, amended["id"])
        for signer in signers(cast):
            version = await sign(contracts, signer, amended["id"])
        assert version["status"] == "active"
        contract_id = UUID(created["id"])
        people = [
            await enrol(
                outcomes,
                cast.provider,
                cast,
                contract_id,
                synthetic_cpr(900 + n),
                municipality_code=str(cast.payer_a.municipality_code),
                enrolment_date=ENROLLED,
            )
            for n in range(7)
        ]
        first_month = ENROLLED + timedelta(days=5)
        second_month = first_month + timedelta(days=35)
        for n, person in enumerate(people):
            await confirm(outcomes, cast.payer_a, person["id"])
            job = await claim(
                outcomes, cast.provider, person["id"], "job_start", first_month if n < 6 else second_month
            )
            await decide(outcomes, cast.payer_a, job["id"], "verified")
        ids = [str(a.organisation_id) for a in (cast.payer_a, cast.payer_b, cast.provider, cast.investor)]
        found = check(
            await identity.get(
                "/v1/organisations", params={"ids": ",".join(ids)}, headers=cast.payer_a.headers
            ),
            200,
        )
        identifiers = {o["id"]: o["identifier"] for o in found["items"]}
    return Scene(cast, created["id"], [first, amended["id"]], identifiers)


async def disclosure(contracts: httpx.AsyncClient, actor: Actor, scene: Scene) -> httpx.Response:
    return await contracts.get(
        f"/v1/partnerships/{scene.cast.partnership_id}/disclosure", headers=actor.headers
    )


async def set_blocks(
    contracts: httpx.AsyncClient, scene: Scene, blocks: dict[str, str], *, reason: str | None = None
) -> dict[str, Any]:
    read = await disclosure(contracts, scene.cast.payer_a, scene)
    changed = await contracts.patch(
        f"/v1/partnerships/{scene.cast.partnership_id}/disclosure",
        json={"blocks": blocks, "reason": reason},
        headers=scene.cast.payer_a.headers | {"If-Match": read.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.text
    body: dict[str, Any] = changed.json()
    return body


def everything(status: str) -> dict[str, str]:
    return {code: status for code in sorted(fields.CODES)}


def grid() -> list[tuple[str, str]]:
    """Every outcome of the terms in every month of the term so far, as the INDIGO results list them."""
    months = cells.months(TODAY - timedelta(days=365), TODAY)
    return sorted((code, f"{month}-01") for code in ("employed_26w", "job_start") for month in months)


def outcome_cells(document: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted(
        (r["outcome_metric_id"]["value"], r["period"]["start_date"]["value"])
        for r in document.get("results", [])
        if r["result_level"]["value"] == "Outcome level"
    )


async def indigo_of(contracts: httpx.AsyncClient, actor: Actor, scene: Scene) -> dict[str, Any]:
    response = await contracts.get(
        f"/v1/partnerships/{scene.cast.partnership_id}/indigo", headers=actor.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def record_of(contracts: httpx.AsyncClient, actor: Actor, scene: Scene) -> dict[str, Any]:
    response = await contracts.get(f"/v1/contracts/{scene.contract_id}/ocds-record", headers=actor.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_signed_terms_set_the_starting_statuses(contracts: httpx.AsyncClient, scene: Scene) -> None:
    read = await disclosure(contracts, scene.cast.observer, scene)
    assert read.status_code == 200, read.text
    blocks = {b["code"]: (b["status"], b["source"]) for b in read.json()["blocks"]}
    assert blocks["contract.title"] == ("public", "terms")
    assert blocks["contract.caps"] == ("private", "terms")
    assert blocks["results.outcomes"] == ("partnership", "default")
    assert set(blocks) == fields.CODES
    assert read.json()["small_cell_threshold"] == 5


async def test_every_member_reads_the_statuses_and_only_an_outcome_payer_changes_them(
    contracts: httpx.AsyncClient, scene: Scene
) -> None:
    cast = scene.cast
    for member in (
        cast.payer_a,
        cast.payer_b,
        cast.provider,
        cast.investor,
        cast.evaluator,
        cast.adviser,
        cast.observer,
    ):
        assert (await disclosure(contracts, member, scene)).status_code == 200
    assert (await disclosure(contracts, cast.outsider, scene)).status_code == 404
    etag = (await disclosure(contracts, cast.payer_a, scene)).headers["ETag"]
    url = f"/v1/partnerships/{cast.partnership_id}/disclosure"
    for refused in (cast.provider, cast.investor, cast.observer, cast.evaluator, cast.adviser):
        answer = await contracts.patch(
            url, json={"blocks": {"contract.period": "public"}}, headers=refused.headers | {"If-Match": etag}
        )
        assert answer.status_code == 403, (refused.partner_type, answer.text)
        assert answer.json()["code"] == "not-an-outcome-payer"
    assert (await disclosure(contracts, cast.payer_a, scene)).headers["ETag"] == etag  # nothing changed


async def test_a_change_needs_the_current_etag_and_valid_blocks_and_is_audited(
    contracts: httpx.AsyncClient, scene: Scene
) -> None:
    cast = scene.cast
    url = f"/v1/partnerships/{cast.partnership_id}/disclosure"
    blocks, reason = {"contract.period": "disputed"}, "The end date is under negotiation"
    body: dict[str, Any] = {"blocks": blocks, "reason": reason}
    missing = await contracts.patch(url, json=body, headers=cast.payer_a.headers)
    assert missing.status_code == 428
    stale = await contracts.patch(url, json=body, headers=cast.payer_a.headers | {"If-Match": '"stale"'})
    assert stale.status_code == 412
    etag = (await disclosure(contracts, cast.payer_a, scene)).headers["ETag"]
    unknown = await contracts.patch(
        url, json={"blocks": {"contract.bonus": "public"}}, headers=cast.payer_a.headers | {"If-Match": etag}
    )
    assert unknown.status_code == 422
    threshold = await contracts.patch(
        url, json={"small_cell_threshold": 2}, headers=cast.payer_a.headers | {"If-Match": etag}
    )
    assert threshold.status_code == 422
    assert (await disclosure(contracts, cast.payer_a, scene)).headers["ETag"] == etag
    changed = await set_blocks(contracts, scene, blocks, reason=reason)
    period = next(b for b in changed["blocks"] if b["code"] == "contract.period")
    assert (period["status"], period["disputed"], period["source"]) == ("disputed", True, "set")
    audit = await contracts.get(
        f"/v1/partnerships/{cast.partnership_id}/disclosure-changes", headers=cast.observer.headers
    )
    latest = audit.json()[0]
    assert (latest["block"], latest["before"], latest["after"], latest["reason"]) == (
        "contract.period",
        "partnership",
        "disputed",
        reason,
    )
    assert latest["actor"]["organisation_id"] == str(cast.payer_a.organisation_id)


async def test_the_exports_of_a_public_partnership_validate_against_both_standards(
    contracts: httpx.AsyncClient, scene: Scene
) -> None:
    await set_blocks(contracts, scene, everything("public"))
    cast = scene.cast
    for reader in (cast.observer, cast.investor, cast.evaluator, cast.provider, cast.payer_b, cast.operator):
        document = await indigo_of(contracts, reader, scene)
        assert indigo_errors(document) == []
        # Exact readers (the provider, a paying municipality) get aggregates listing only the months with
        # claims; the export lays them out like everyone's, so a cell's appearance never tells.
        assert outcome_cells(document) == grid(), reader.partner_type
        record = await record_of(contracts, reader, scene)
        assert ocds_errors(record) == []
    # What the observer's knowledge centre gets, field by field.
    identifiers = {o["id"] for o in document["organisations"]}
    assert identifiers == set(scene.identifiers.values())
    assert all(i.startswith("DK-CVR-") for i in identifiers)
    assert {c["organisation_id"]["value"] for c in document["outcome_payment_commitments"]} == {
        scene.identifiers[str(cast.payer_a.organisation_id)],
        scene.identifiers[str(cast.payer_b.organisation_id)],
    }
    assert (
        document["service_provisions"][0]["organisation_id"]["value"]
        == scene.identifiers[str(cast.provider.organisation_id)]
    )
    assert (
        document["investments"][0]["organisation_id"]["value"]
        == scene.identifiers[str(cast.investor.organisation_id)]
    )
    assert {m["id"] for m in document["outcome_metrics"]} == {"job_start", "employed_26w"}
    prices = {
        p["outcome_metric_id"]["value"]: p["price_per_unit"]["amount"]["value"]
        for p in document["outcome_pricings"]
    }
    assert prices == {"job_start": 27500, "employed_26w": 40000}
    results = [r for r in document["results"] if r["result_level"]["value"] == "Outcome level"]
    shown = [
        r["number_with_positive_social_outcomes"]["value"]
        for r in results
        if "number_with_positive_social_outcomes" in r
    ]
    assert shown == [6]
    withheld = [r for r in results if "number_with_positive_social_outcomes" not in r]
    # This is the operator's document: the outcome service gives it the aggregates under the small-cell
    # rule, laid out over every outcome and month of the term (docs/open-data.md, "In the outcome
    # service"), so the small cell and every empty one are withheld alike.
    assert len(withheld) > 1
    assert all("small-cell" in r["notes"] for r in withheld)
    project = next(r for r in document["results"] if r["result_level"]["value"] == "Project level")
    assert project["number_engaged_in_impact_bond"]["value"] == 7
    actual = [p for p in document["outcome_payments"] if p["type"]["value"] == "Actual"]
    assert [p["money"]["amount"]["value"] for p in actual] == [
        6 * 27500
    ]  # priced by the amendment; the withheld month's value withheld too
    assert "total_outcome_payments_made" not in document.get("overall_project_finance", {})
    record = record["records"][0]
    tags = [r["tag"] for r in record["releases"]]
    assert tags == [["contract"], ["contractAmendment"]]
    amendment = record["releases"][1]["contracts"][0]["amendments"][0]
    assert amendment["rationale"] == RATIONALE
    assert "outcomes.job_start.tariff" in amendment["description"]
    assert amendment["amendsReleaseID"] == record["releases"][0]["id"]
    compiled = record["compiledRelease"]
    assert compiled["tag"] == ["compiled"]
    assert compiled["contracts"][0]["title"].endswith("(amended)")
    assert {s["id"] for s in compiled["contracts"][0]["signatories"]} == set(scene.identifiers.values())
    assert {p["id"]: sorted(p["roles"]) for p in compiled["parties"]}[
        scene.identifiers[str(cast.payer_a.organisation_id)]
    ] == ["buyer", "payer"]


# What betrays each block in an export: a value only it holds, or a key only it fills.
def _markers(scene: Scene) -> dict[str, list[str]]:
    cast = scene.cast
    orgs = list(scene.identifiers.values())
    return {
        "contract.title": ["Flygtninge i job", '"title"', '"name"'],
        "contract.period": [
            '"period":{"startDate"',
            '"start_date_of_service_provision"',
            '"stage_development"',
            '"planned_service"',
        ],
        "contract.target_group": [TARGET_GROUP, '"target_population"'],
        "contract.max_participants": ['"targeted_number_service_users_or_beneficiaries_total"'],
        "contract.parties": [
            *orgs,
            '"parties"',
            '"organisations"',
            '"buyer"',
            str(cast.provider.organisation_id),
        ],
        "contract.signatories": ['"signatories"', '"dateSigned"', '"outcomes_contract_signed"'],
        "contract.outcome_metrics": ["Ordinary employment", '"milestones"', '"outcome_metrics"'],
        "contract.outcome_pricing": ['"price_per_unit"', "27500"],
        "contract.caps": ['"value":{"amount"', "5000000", '"maximum_potential_outcome_payment_v2"'],
        "contract.payer_split": ['"maximum_potential_outcome_payment"'],
        "contract.amendments": [RATIONALE, '"amendments"'],
        "results.engaged": [
            '"number_engaged_in_impact_bond"',
            '"actual_number_service_users_or_beneficiaries_total"',
        ],
        "results.outcomes": ['"number_with_positive_social_outcomes"'],
        "results.payments": ['"outcome_payments"', "165000"],
    }


async def test_a_private_block_never_appears_in_an_export_block_by_block(
    contracts: httpx.AsyncClient, scene: Scene
) -> None:
    markers = _markers(scene)
    assert set(markers) == fields.CODES
    await set_blocks(contracts, scene, everything("public"))
    whole = json.dumps(await indigo_of(contracts, scene.cast.observer, scene), separators=(",", ":"))
    whole += json.dumps(await record_of(contracts, scene.cast.observer, scene), separators=(",", ":"))
    for code, found in markers.items():
        # Proof each marker is there when its block is public (but the caps' per-payer maxima: none here).
        if code != "contract.payer_split":
            assert any(m in whole for m in found), code
    for code in sorted(fields.CODES):
        for status in ("private", "partnership", "disputed"):
            if status != "private" and code not in ("contract.title", "results.outcomes"):
                continue  # every status but public withholds alike: checked in full for private
            await set_blocks(contracts, scene, everything("public") | {code: status})
            document = await indigo_of(contracts, scene.cast.observer, scene)
            record = await record_of(contracts, scene.cast.observer, scene)
            assert indigo_errors(document) == []
            assert ocds_errors(record) == []
            text = json.dumps(document, separators=(",", ":")) + json.dumps(record, separators=(",", ":"))
            leaked = [m for m in markers[code] if m in text and not _also_elsewhere(code, m)]
            assert leaked == [], (code, status, leaked)
            contract = record["records"][0]["compiledRelease"]["contracts"][0]
            assert ("status" in contract) == (code != "contract.period"), code


def _also_elsewhere(code: str, marker: str) -> bool:
    """Keys other blocks fill too (`"name"` of an organisation, `"status"` of a milestone)."""
    return (code, marker) in {("contract.title", '"name"'), ("contract.title", '"title"')}


async def test_flipping_a_public_block_to_private_removes_it_from_the_next_public_read_and_announces_it(
    contracts: httpx.AsyncClient, scene: Scene
) -> None:
    cast = scene.cast
    await set_blocks(contracts, scene, everything("public"))
    published = await contracts.post(
        f"/v1/partnerships/{cast.partnership_id}/publications", headers=cast.payer_a.headers | key()
    )
    assert published.status_code == 201, published.text
    assert published.json()["results"]["engaged"] == 7
    url = f"/v1/public/partnerships/{cast.partnership_id}/indigo"
    before = await contracts.get(url)  # no token
    assert before.status_code == 200, before.text
    assert before.headers["Cache-Control"] == "public, no-cache"
    assert indigo_errors(before.json()) == []
    assert "Ordinary employment" in before.text
    # Published by an exact reader (the payer), laid out all the same; only the six job starts shown.
    assert outcome_cells(before.json()) == grid()
    assert before.text.count('"number_with_positive_social_outcomes"') == 1
    assert [c["pending_claims"] for c in published.json()["results"]["contracts"]] == [None]
    again = await contracts.get(url, headers={"If-None-Match": before.headers["ETag"]})
    assert again.status_code == 304
    public_record = await contracts.get(f"/v1/public/contracts/{scene.contract_id}/ocds-record")
    assert public_record.status_code == 200
    assert ocds_errors(public_record.json()) == []

    await set_blocks(
        contracts, scene, {"contract.outcome_metrics": "private"}, reason="Definitions under review"
    )
    after = await contracts.get(url, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200  # the ETag moved with the content
    assert "Ordinary employment" not in after.text
    assert "outcome_metrics" not in after.json()
    assert indigo_errors(after.json()) == []
    withdrawn = await withdrawals(contracts, cast)
    assert withdrawn[-1]["data"]["blocks"] == ["contract.outcome_metrics"]
    assert withdrawn[-1]["contract_id"] is None
    # A change that withdraws nothing public announces nothing.
    await set_blocks(contracts, scene, {"contract.outcome_metrics": "partnership"})
    assert len(await withdrawals(contracts, cast)) == len(withdrawn)


async def withdrawals(contracts: httpx.AsyncClient, cast: Cast) -> list[dict[str, Any]]:
    """The partnership's `disclosure.withdrawn` events in the registry's change log (read as the operator)."""
    found: list[dict[str, Any]] = []
    after = 0
    while True:
        page = await contracts.get(
            "/v1/contract-events", params={"after": after, "limit": 100}, headers=cast.operator.headers
        )
        assert page.status_code == 200, page.text
        items = page.json()["items"]
        found += [
            e
            for e in items
            if e["type"] == "disclosure.withdrawn" and e["partnership_id"] == str(cast.partnership_id)
        ]
        if len(items) < 100:
            return found
        after = page.json()["cursor"]


async def test_the_public_read_of_a_partnership_that_never_published_is_not_found(
    contracts: httpx.AsyncClient, scene: Scene
) -> None:
    missing = await contracts.get(f"/v1/public/partnerships/{UUID(int=7)}/indigo")
    assert missing.status_code == 404
    assert missing.json()["code"] == "nothing-published"


async def test_only_an_outcome_payer_publishes(contracts: httpx.AsyncClient, scene: Scene) -> None:
    for refused in (scene.cast.investor, scene.cast.observer, scene.cast.provider):
        answer = await contracts.post(
            f"/v1/partnerships/{scene.cast.partnership_id}/publications", headers=refused.headers | key()
        )
        assert answer.status_code == 403, answer.text


def test_the_public_read_is_limited_per_address_and_says_when_to_retry() -> None:
    now = [1000.0]
    limit = PerAddressLimit(3, clock=lambda: now[0])
    for _ in range(3):
        limit.check("192.0.2.1")
    limit.check("192.0.2.2")
    with pytest.raises(TooManyRequests) as refused:
        limit.check("192.0.2.1")
    assert refused.value.status == 429
    assert int(refused.value.headers["Retry-After"]) >= 1
    now[0] += 60
    limit.check("192.0.2.1")


async def test_raising_the_threshold_withholds_more_at_once_even_from_an_earlier_publication(
    contracts: httpx.AsyncClient, scene: Scene
) -> None:
    cast = scene.cast
    await set_blocks(contracts, scene, everything("public"))
    published = await contracts.post(
        f"/v1/partnerships/{cast.partnership_id}/publications", headers=cast.payer_a.headers | key()
    )
    assert published.status_code == 201, published.text
    public_url = f"/v1/public/partnerships/{cast.partnership_id}/indigo"
    assert "number_with_positive_social_outcomes" in (await contracts.get(public_url)).text
    etag = (await disclosure(contracts, cast.payer_a, scene)).headers["ETag"]
    raised = await contracts.patch(
        f"/v1/partnerships/{cast.partnership_id}/disclosure",
        json={"small_cell_threshold": 7, "reason": "Fewer than eight is identifying here"},
        headers=cast.payer_a.headers | {"If-Match": etag},
    )
    assert raised.status_code == 200, raised.text
    assert raised.json()["small_cell_threshold"] == 7
    # The live export withholds the cell of six and the seven enrolled; the public read drops the results
    # published under the old threshold until the payers publish again.
    live = await indigo_of(contracts, cast.observer, scene)
    assert "number_with_positive_social_outcomes" not in json.dumps(live)
    assert "number_engaged_in_impact_bond" not in json.dumps(live)
    assert indigo_errors(live) == []
    public = (await contracts.get(public_url)).json()
    assert "results" not in public
    assert indigo_errors(public) == []
    audit = await contracts.get(
        f"/v1/partnerships/{cast.partnership_id}/disclosure-changes", headers=cast.investor.headers
    )
    assert (audit.json()[0]["block"], audit.json()[0]["before"], audit.json()[0]["after"]) == (
        "small_cell_threshold",
        "5",
        "7",
    )
