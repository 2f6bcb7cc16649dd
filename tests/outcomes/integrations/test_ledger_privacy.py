"""Privacy by design in the ledger (issue 17): after a realistic run — three participants of two
municipalities enrolled, confirmed, claimed, verified, rejected, disputed, resolved and exited, with free
text naming people — investors, advisers and observers find no participant id, claim id, pseudonym,
free text, person-level actor or split line on any channel (feed, stream, webhooks, the REST ledger, the
export, the GraphQL subscription), and still verify the chain; the provider and the payer see theirs
and check every disclosed value against the chain's commitment; the data controller's erasure removes a
text everywhere while the chain still verifies offline and the money stays."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
import websockets
from standardwebhooks.webhooks import Webhook

from effekt.launcher import Platform
from effekt.sandbox.cast import Actor, Cast
from effekt.sandbox.identifiers import synthetic_cpr
from services.outcomes import access, chain
from services.outcomes.chain import SEALED_TYPE, verify_chain
from services.outcomes.feed.service import chain_item
from services.outcomes.ledger import disclosures
from tests.gateway.support import gid
from tests.independent_chain import verify_feed_chain
from tests.outcomes.integrations.published import STRUCTURED, parse_batch_strictly, parse_strictly
from tests.outcomes.integrations.support import Receiver, eventually, subscribe
from tests.outcomes.support import (
    TODAY,
    active_contract,
    check,
    claim,
    confirm,
    decide,
    enrol,
    key,
    quarter,
    whole_ledger,
)
from tests.outcomes.test_rate_cards import employment_card

ROOT = Path(__file__).parents[3]
FREE_TEXT = (
    "Gruppe Anne Jensen",
    "Payslip shows Anne Jensen elsewhere",
    "Anne Jensen's payslip attached",
    "Moved to Aarhus with Bo Hansen",
)
SEALED_AUDIENCES = ("investor", "adviser", "observer")
PARTNERSHIP_LEVEL = {
    "dk.effekt.statement.drafted",
    "dk.effekt.statement.issued",
    "dk.effekt.statement.summarised",
    "dk.effekt.contract.activated",
    "dk.effekt.erasure.completed",
}
FACTS = {"hours_per_week": "20", "off_benefit": True}


@dataclass
class Scenario:
    platform: Platform
    cast: Cast
    receivers: dict[str, Receiver]
    participants: list[dict[str, Any]]  # as the provider reads them (with pseudonyms)
    claims: list[str]
    length: int  # events in the ledger

    def secrets(self) -> list[str]:
        """What a sealed audience must never find."""
        return [
            *FREE_TEXT,
            *(p["id"] for p in self.participants),
            *(p["pseudonym"] for p in self.participants),
            *self.claims,
        ]


@pytest.fixture(scope="module")
async def scenario(platform: Platform, shared_cast: Cast) -> AsyncIterator[Scenario]:
    cast = shared_cast
    receivers = {name: Receiver() for name in (*SEALED_AUDIENCES, "provider", "payer")}
    async with (
        httpx.AsyncClient(base_url=platform.url("contracts"), timeout=30) as contracts,
        httpx.AsyncClient(base_url=platform.url("outcomes"), timeout=30) as outcomes,
        receivers["investor"].running(),
        receivers["adviser"].running(),
        receivers["observer"].running(),
        receivers["provider"].running(),
        receivers["payer"].running(),
    ):
        actors = _actors(cast)
        for name, receiver in receivers.items():
            receiver.secret = (await subscribe(outcomes, actors[name], cast.partnership_id, receiver.url))[
                "secret"
            ]
        contract_id, _ = await active_contract(contracts, cast, _card(cast))
        people = []
        for n, code in enumerate(("657", "657", "791")):
            person = await enrol(
                outcomes,
                cast.provider,
                cast,
                contract_id,
                synthetic_cpr(700 + n),
                municipality_code=code,
                enrolment_date=TODAY - timedelta(days=60),
                cohort=FREE_TEXT[0],
                segment="esa",
            )
            await confirm(outcomes, cast.payer_a if code == "657" else cast.payer_b, person["id"])
            people.append(person)
        day = TODAY - timedelta(days=3)
        first = await claim(outcomes, cast.provider, people[0]["id"], "job_start", day, facts=FACTS)
        await decide(outcomes, cast.payer_a, first["id"], "verified")
        second = await claim(outcomes, cast.provider, people[1]["id"], "job_start", day, facts=FACTS)
        await decide(outcomes, cast.payer_a, second["id"], "rejected", reason=FREE_TEXT[1])
        check(
            await outcomes.post(
                f"/v1/outcome-claims/{second['id']}/dispute",
                json={"reason": FREE_TEXT[2]},
                headers={**cast.provider.headers, **key()},
            ),
            200,
        )
        await decide(
            outcomes, cast.payer_a, second["id"], "verified", reason="Seen", path="dispute-resolution"
        )
        check(
            await outcomes.post(
                f"/v1/participants/{people[2]['id']}/exit",
                json={"exit_date": (TODAY - timedelta(days=1)).isoformat(), "reason": FREE_TEXT[3]},
                headers={**cast.provider.headers, **key()},
            ),
            200,
        )
        start, end = quarter(day)
        draft = check(
            await outcomes.post(
                "/v1/payment-statements",
                json={
                    "contract_id": str(contract_id),
                    "payer_organisation_id": str(cast.payer_a.organisation_id),
                    "period_start": start.isoformat(),
                    "period_end": end.isoformat(),
                },
                headers={**cast.provider.headers, **key()},
            ),
            201,
        )
        check(
            await outcomes.post(
                f"/v1/payment-statements/{draft['id']}/issue", headers={**cast.provider.headers, **key()}
            ),
            200,
        )
        read = [
            check(await outcomes.get(f"/v1/participants/{p['id']}", headers=cast.provider.headers), 200)
            for p in people
        ]
        length = len(await whole_ledger(outcomes, cast.provider, cast.partnership_id))
        for receiver in receivers.values():
            await eventually(lambda r=receiver: len(r.received) == length)
        yield Scenario(platform, cast, receivers, read, [first["id"], second["id"]], length)


def _card(cast: Cast) -> dict[str, Any]:
    """The rate card with segments and facts, its rest split by residence over both municipalities (so
    verified claims carry residence split lines)."""
    terms = employment_card(cast)
    terms["payer_split"]["rest"]["municipalities"].append(
        {"organisation_id": str(cast.payer_b.organisation_id), "municipality_code": "791"}
    )
    return terms


def _actors(cast: Cast) -> dict[str, Actor]:
    return {
        "investor": cast.investor,
        "adviser": cast.adviser,
        "observer": cast.observer,
        "provider": cast.provider,
        "payer": cast.payer_a,
    }


@pytest.fixture
async def outcomes(scenario: Scenario) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=scenario.platform.url("outcomes"), timeout=30) as client:
        yield client


# --- what each channel gives -----------------------------------------------------------------------------


async def _feed(outcomes: httpx.AsyncClient, s: Scenario, actor: Actor) -> list[dict[str, Any]]:
    response = await outcomes.get(
        "/v1/feed", params={"partnership": str(s.cast.partnership_id), "limit": 1000}, headers=actor.headers
    )
    assert response.status_code == 200, response.text
    parse_batch_strictly(response)  # the CloudEvents SDK, strict
    events: list[dict[str, Any]] = response.json()
    assert verify_chain(chain_item(e) for e in events).valid
    return events


async def _stream(outcomes: httpx.AsyncClient, s: Scenario, actor: Actor) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    params = {"partnership": str(s.cast.partnership_id)}
    async with outcomes.stream("GET", "/v1/feed/stream", params=params, headers=actor.headers) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("data: "):
                parse_strictly(line[6:].encode())
                got.append(json.loads(line[6:]))
                if len(got) == s.length:
                    break
    assert verify_chain(chain_item(e) for e in got).valid
    return got


async def _export(outcomes: httpx.AsyncClient, s: Scenario, actor: Actor) -> list[dict[str, Any]]:
    response = await outcomes.get(
        f"/v1/partnerships/{s.cast.partnership_id}/ledger/export", headers=actor.headers
    )
    assert response.status_code == 200, response.text
    lines = [json.loads(line) for line in response.text.splitlines()]
    for line in lines:
        parse_strictly(json.dumps(line["event"]).encode())
    assert verify_chain(lines).valid
    return lines


def _webhooks(s: Scenario, name: str) -> list[dict[str, Any]]:
    receiver = s.receivers[name]
    assert receiver.bad_signatures == 0
    events = []
    for headers, body in receiver.raw.values():
        Webhook(receiver.secret).verify(body, headers)  # standardwebhooks, from the raw bytes
        assert headers["Content-Type"] == STRUCTURED
        parse_strictly(body, headers)
        events.append(json.loads(body))
    events.sort(key=lambda e: e["sequence"])
    assert verify_chain(chain_item(e) for e in events).valid
    return events


async def _graphql_subscription(s: Scenario, actor: Actor) -> list[dict[str, Any]]:
    url = s.platform.url("gateway").replace("http://", "ws://") + "/graphql"
    query = """subscription($id: ID!) { ledgerEvents(partnershipId: $id, afterSequence: 0) {
        sequence type hash prevHash } }"""
    got: list[dict[str, Any]] = []
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {actor.token}"}})
        )
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "connection_ack"
        variables = {"id": gid("Partnership", s.cast.partnership_id)}
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}})
        )
        while len(got) < s.length:
            message = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert message["type"] == "next", message
            got.append(message["payload"]["data"]["ledgerEvents"])
    return got


def _assert_sealed(s: Scenario, events: list[dict[str, Any]], channel: str) -> None:
    """No person-level event in full, nothing that links or names a person."""
    text = json.dumps(events, ensure_ascii=False)
    for secret in s.secrets():
        assert secret not in text, (channel, secret)
    for field in ("pseudonym", "participantsegment", "claimfacts", "ledgersalts", "participant_id", "split"):
        assert field not in text, (channel, field)
    types = {e["type"] for e in events}
    assert types <= PARTNERSHIP_LEVEL | {SEALED_TYPE}, (channel, types)
    assert SEALED_TYPE in types
    assert "dk.effekt.statement.summarised" in types
    # A statement's exact totals would give back, differenced, the counts the small-cell rule withholds.
    assert not types & disclosures.EXACT_TOTAL_TYPES, (channel, types)
    assert "total_tariff" not in text, channel
    for event in events:
        if event["type"] == SEALED_TYPE:
            assert set(event) - {"ledgerhash", "ledgerprevhash"} == {
                "specversion", "id", "source", "type", "time", "partnershipid", "sequence", "ledgerdigest"
            }, (channel, event)  # fmt: skip


@pytest.mark.parametrize("audience", SEALED_AUDIENCES)
async def test_sealed_audiences_find_no_person_on_any_channel_and_still_verify_the_chain(
    scenario: Scenario, outcomes: httpx.AsyncClient, audience: str
) -> None:
    actor = _actors(scenario.cast)[audience]
    feed = await _feed(outcomes, scenario, actor)
    assert len(feed) == scenario.length
    _assert_sealed(scenario, feed, "feed")
    _assert_sealed(scenario, await _stream(outcomes, scenario, actor), "stream")
    _assert_sealed(scenario, _webhooks(scenario, audience), "webhooks")
    export = await _export(outcomes, scenario, actor)
    _assert_sealed(scenario, [line["event"] for line in export], "export")
    ledger = await whole_ledger(outcomes, actor, scenario.cast.partnership_id)
    assert verify_chain(ledger).valid
    _assert_sealed(scenario, [item["event"] for item in ledger], "ledger")
    assert all(item["canonical"] == "" for item in ledger if item["event"]["type"] == SEALED_TYPE)
    # One chain: the sealed audience's hashes are the provider's, and an outsider's verifier follows the
    # feed's stubs (the statements' among them) to the same head.
    provider = await whole_ledger(outcomes, scenario.cast.provider, scenario.cast.partnership_id)
    assert [i["hash"] for i in ledger] == [i["hash"] for i in provider]
    assert verify_feed_chain(feed) == provider[-1]["hash"]
    # The provider reads the statement events, exact totals and all, that reach this audience sealed.
    in_clear = [i["event"] for i in provider if i["event"]["type"] in disclosures.EXACT_TOTAL_TYPES]
    assert {e["type"] for e in in_clear} >= {"dk.effekt.statement.drafted", "dk.effekt.statement.issued"}
    assert all(e["data"]["total"] is not None for e in in_clear)
    sealed_at = {i["sequence"] for i in ledger if i["event"]["type"] == SEALED_TYPE}
    assert {i["sequence"] for i in provider if i["event"] in in_clear} <= sealed_at
    # A filter on a person-level type tells it nothing; on the sealed type it gets the stubs.
    for type_, expected in (
        ("dk.effekt.claim.verified", 0),
        (SEALED_TYPE, sum(e["type"] == SEALED_TYPE for e in feed)),
    ):
        response = await outcomes.get(
            "/v1/feed",
            params={"partnership": str(scenario.cast.partnership_id), "type": type_, "limit": 1000},
            headers=actor.headers,
        )
        assert len(response.json()) == expected, type_


async def test_an_investors_graphql_subscription_carries_only_sealed_person_level_events(
    scenario: Scenario,
) -> None:
    events = await _graphql_subscription(scenario, scenario.cast.investor)
    assert {e["type"] for e in events} <= PARTNERSHIP_LEVEL | {SEALED_TYPE}
    text = json.dumps(events)
    assert not [secret for secret in scenario.secrets() if secret in text]


def _check_disclosures(events: list[dict[str, Any]], canonical: dict[str, str]) -> int:
    """Every disclosed value matches the commitment in the hashed bytes; returns how many were checked."""
    checked = 0
    for event in events:
        if "ledgersalts" not in event:
            continue
        stored = json.loads(canonical[event["id"]])
        for path, salt in json.loads(event["ledgersalts"]).items():
            shown = chain.get_path(
                chain.record_of({k: v for k, v in event.items() if k != "ledgersalts"}), path
            )
            assert chain.get_path(stored, path) == chain.commitment(salt, shown), path
            checked += 1
    return checked


async def test_the_provider_and_payer_see_their_people_and_check_every_value_against_its_commitment(
    scenario: Scenario, outcomes: httpx.AsyncClient
) -> None:
    cast = scenario.cast
    ledger = await whole_ledger(outcomes, cast.provider, cast.partnership_id)
    canonical = {item["event"]["id"]: item["canonical"] for item in ledger}
    provider = await _feed(outcomes, scenario, cast.provider)
    text = json.dumps(provider, ensure_ascii=False)
    assert all(secret in text for secret in scenario.secrets())
    assert SEALED_TYPE not in {e["type"] for e in provider}
    assert _check_disclosures(provider, canonical) > 20
    # Person-level extensions, on the feed and now on webhook deliveries too (issue 14's gap).
    for channel, events in (("feed", provider), ("webhooks", _webhooks(scenario, "provider"))):
        enrolled = [e for e in events if e["type"] == "dk.effekt.participant.enrolled"]
        assert {e["participantsegment"] for e in enrolled} == {"esa"}, channel
        submitted = [e for e in events if e["type"] == "dk.effekt.claim.submitted"]
        assert {e["claimfacts"] for e in submitted} == {'{"hours_per_week":"20","off_benefit":true}'}, channel
        assert {e["pseudonym"] for e in enrolled} == {p["pseudonym"] for p in scenario.participants}
    # The payer: its two residents in full, Viborg's resident sealed, on every channel.
    herning = {p["id"] for p in scenario.participants[:2]}
    viborg = scenario.participants[2]
    for channel, events in (
        ("feed", await _feed(outcomes, scenario, cast.payer_a)),
        ("webhooks", _webhooks(scenario, "payer")),
        ("export", [line["event"] for line in await _export(outcomes, scenario, cast.payer_a)]),
    ):
        text = json.dumps(events, ensure_ascii=False)
        assert viborg["id"] not in text
        assert viborg["pseudonym"] not in text
        assert FREE_TEXT[3] not in text
        shown = {e["data"]["participant_id"] for e in events if e["type"] == "dk.effekt.participant.enrolled"}
        assert shown == herning, channel
        assert sum(e["type"] == SEALED_TYPE for e in events) == 3, channel  # enrolled, confirmed, exited
        assert _check_disclosures(events, canonical) > 10


async def test_the_hashed_bytes_hold_only_commitments_for_person_level_values(
    scenario: Scenario, outcomes: httpx.AsyncClient
) -> None:
    ledger = await whole_ledger(outcomes, scenario.cast.provider, scenario.cast.partnership_id)
    canonical = "\n".join(item["canonical"] for item in ledger)
    assert not [secret for secret in scenario.secrets() if secret in canonical]
    person = [json.loads(i["canonical"]) for i in ledger if disclosures.is_person_level(i["event"]["type"])]
    assert len(person) == 13  # 3 enrolments, 3 confirmations, an exit; 2 claims, 4 decisions or disputes
    assert all(chain.is_commitment(r["subject"]) and chain.is_commitment(r["actor"]) for r in person)
    # Two events of one participant share no value a reader could link them by.
    committed = [v for r in person for v in r["data"].values() if chain.is_commitment(v)]
    assert len(committed) == len(set(committed))


async def test_the_data_controllers_erasure_removes_the_text_everywhere_and_the_chain_still_verifies(
    scenario: Scenario, outcomes: httpx.AsyncClient, tmp_path: Path
) -> None:
    cast = scenario.cast
    before = await whole_ledger(outcomes, cast.provider, cast.partnership_id)
    rejected = next(i["event"] for i in before if i["event"]["type"] == "dk.effekt.claim.rejected")
    body = {"kind": "ledger_value", "event_id": rejected["id"], "path": "data.reason"}
    # Not the provider, not another municipality: the participant's payer is the controller.
    for actor, status in ((cast.provider, 403), (cast.payer_b, 404), (cast.investor, 404)):
        refused = await outcomes.post("/v1/erasures", json=body, headers={**actor.headers, **key()})
        assert refused.status_code == status, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    bad = await outcomes.post(
        "/v1/erasures", json={**body, "path": "data.outcome_code"}, headers={**cast.payer_a.headers, **key()}
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "not-erasable")
    idempotency = {"Idempotency-Key": uuid4().hex}
    erased = check(
        await outcomes.post("/v1/erasures", json=body, headers={**cast.payer_a.headers, **idempotency}), 201
    )
    assert (erased["kind"], erased["values_erased"]) == ("ledger_value", 1)
    replay = await outcomes.post("/v1/erasures", json=body, headers={**cast.payer_a.headers, **idempotency})
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == erased
    again = await outcomes.post("/v1/erasures", json=body, headers={**cast.payer_a.headers, **key()})
    assert (again.status_code, again.json()["code"]) == (409, "already-erased")
    # And the whole participant of the exit: free text, municipal reference, evidence.
    everything = check(
        await outcomes.post(
            "/v1/erasures",
            json={"kind": "participant", "participant_id": scenario.participants[2]["id"]},
            headers={**cast.payer_b.headers, **key()},
        ),
        201,
    )
    assert everything["values_erased"] == 2  # its cohort and its exit reason

    after = await whole_ledger(outcomes, cast.provider, cast.partnership_id)
    assert [i["hash"] for i in after[: len(before)]] == [i["hash"] for i in before]  # nothing rewritten
    for channel, text in (
        ("ledger", json.dumps(after, ensure_ascii=False)),
        ("feed", json.dumps(await _feed(outcomes, scenario, cast.provider), ensure_ascii=False)),
        ("export", json.dumps(await _export(outcomes, scenario, cast.provider), ensure_ascii=False)),
        (
            "claim",
            (
                await outcomes.get(f"/v1/outcome-claims/{scenario.claims[1]}", headers=cast.provider.headers)
            ).text,
        ),
        (
            "participant",
            (
                await outcomes.get(
                    f"/v1/participants/{scenario.participants[2]['id']}", headers=cast.provider.headers
                )
            ).text,
        ),
    ):
        assert FREE_TEXT[1] not in text, channel
        assert FREE_TEXT[3] not in text, channel
    assert FREE_TEXT[2] in json.dumps(after)  # the dispute reason was not asked for
    # The chain verifies offline, as the export a partner archived.
    export = tmp_path / "ledger.ndjson"
    export.write_text(
        (
            await outcomes.get(
                f"/v1/partnerships/{cast.partnership_id}/ledger/export", headers=cast.provider.headers
            )
        ).text
    )
    assert chain.main([str(export)]) == 0
    verification = check(
        await outcomes.get(
            f"/v1/partnerships/{cast.partnership_id}/ledger/verification", headers=cast.investor.headers
        ),
        200,
    )
    assert verification["valid"] is True
    # The money is untouched; the erasures are audited events naming no person.
    verified = [i["event"]["data"] for i in after if i["event"]["type"] == "dk.effekt.claim.verified"]
    assert [v["payable"] for v in verified] == [
        i["event"]["data"]["payable"] for i in before if i["event"]["type"] == "dk.effekt.claim.verified"
    ]
    audits = [i["event"] for i in after if i["event"]["type"] == "dk.effekt.erasure.completed"]
    assert [a["data"]["erasure_id"] for a in audits] == [erased["id"], everything["id"]]
    text = json.dumps(audits)
    assert not [p["id"] for p in scenario.participants if p["id"] in text]


# --- the documented statement of who receives what -------------------------------------------------------


def audience_table() -> str:
    """The docs' table, built from the rules the code runs (`access.audience_for`, `Audience.sees`)."""
    rows = [
        "| audience | person-level events (`participant.*`, `claim.*`) | `pseudonym`, `participantsegment`,"
        " `claimfacts` | partnership-level events |",
        "| --- | --- | --- | --- |",
    ]
    for role in (*access.AUDIENCE_ORDER, "operator"):
        audience = access.audience_for([role] if role != "operator" else [], "657")
        own, other = audience.sees("657"), audience.sees("791")
        if own and other:
            person, extensions = "in full, with `ledgersalts`", "on the feed, stream and webhooks"
        elif own:
            person = "its residents' in full, with `ledgersalts`; others' sealed"
            extensions = "its residents', on the feed, stream and webhooks"
        else:
            person, extensions = "sealed stub", "never"
        partnership = (
            "in full"
            if audience.sees_pseudonyms
            else "in full, but `statement.drafted`, `.issued`, `.paid` and `audit.opened`, `.closed` sealed"
        )
        rows.append(f"| {role} | {person} | {extensions} | {partnership} |")
    return "\n".join(rows)


def test_the_docs_say_exactly_what_each_audience_receives() -> None:
    page = (ROOT / "docs/integrations/README.md").read_text()
    documented = page.split("<!-- audience-table -->\n", 1)[1].split("\n<!-- /audience-table -->", 1)[0]
    assert documented == audience_table()
    assert access.audience_table() == {
        "provider": "full",
        "evaluator": "full",
        "outcome_payer": "residents",
        "investor": "sealed",
        "adviser": "sealed",
        "observer": "sealed",
    }
    assert all(
        disclosures.is_person_level(t) for t in ("dk.effekt.participant.exited", "dk.effekt.claim.repriced")
    )
    assert not any(disclosures.is_person_level(t) for t in PARTNERSHIP_LEVEL)
