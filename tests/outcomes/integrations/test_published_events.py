"""Every event the platform publishes — in the feed (batch), the stream, webhooks, the ledger reads and the
export — is a CloudEvent the official `cloudevents` SDK reads strictly and the spec's type system allows,
still verifies as the hash chain, and is in the event catalogue with `data` its schema admits (issue 16).

The run makes every kind of event the service has (`run_every_kind_of_event`); the catalogue check reads
the types the run emitted, so an event type added later fails here until docs/asyncapi.yaml lists it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from effekt.launcher import Platform
from effekt.sandbox.http import new_client
from services.outcomes.chain import SEALED_TYPE, verify_chain
from services.outcomes.feed.service import chain_item
from tests.actors import Cast, make_cast
from tests.outcomes.integrations.published import (
    STRUCTURED,
    catalogue,
    catalogued_types,
    parse_batch_strictly,
    parse_strictly,
    payload_validator,
    run_every_kind_of_event,
)
from tests.outcomes.integrations.support import Receiver, eventually, subscribe
from tests.outcomes.support import whole_ledger


@dataclass
class Published:
    platform: Platform
    cast: Cast
    receiver: Receiver
    ledger: list[dict[str, Any]]  # the ledger endpoint's chain items, whole, as the evaluator reads them


@pytest.fixture(scope="module")
async def published(recording_platform: Platform) -> AsyncIterator[Published]:
    cast = await make_cast(recording_platform)
    async with (
        new_client(base_url=recording_platform.url("contracts"), timeout=30) as contracts,
        new_client(base_url=recording_platform.url("outcomes"), timeout=30) as outcomes,
        Receiver().running() as receiver,
    ):
        created = await subscribe(outcomes, cast.evaluator, cast.partnership_id, receiver.url)
        receiver.secret = created["secret"]
        await run_every_kind_of_event(cast, contracts, outcomes)

        async def ledger() -> list[dict[str, Any]]:
            return await whole_ledger(outcomes, cast.evaluator, cast.partnership_id)

        deadline = asyncio.get_running_loop().time() + 60  # the registry's log is polled every 0.5 s
        while "dk.effekt.contract.terminated" not in {i["event"]["type"] for i in await ledger()}:
            assert asyncio.get_running_loop().time() < deadline, "the registry's events never arrived"
            await asyncio.sleep(0.3)
        items = await ledger()
        await eventually(lambda: len(receiver.received) == len(items))
        yield Published(recording_platform, cast, receiver, items)


@pytest.fixture
async def outcomes(published: Published) -> AsyncIterator[httpx.AsyncClient]:
    async with new_client(base_url=published.platform.url("outcomes"), timeout=30) as client:
        yield client


async def test_the_feed_batch_parses_strictly_and_verifies_as_the_chain(
    published: Published, outcomes: httpx.AsyncClient
) -> None:
    cast = published.cast
    for reader in (cast.investor, cast.evaluator):  # without and with the `pseudonym` extension
        response = await outcomes.get(
            "/v1/feed",
            params={"partnership": str(cast.partnership_id), "limit": 1000},
            headers=reader.headers,
        )
        assert response.status_code == 200, response.text
        events = parse_batch_strictly(response)
        assert len(events) == len(published.ledger)
        sequences = [e.get_extension("sequence") for e in events]
        assert sequences == sorted(sequences)  # the sequence extension: text order is event order
        in_full = [e for e in events if e.get_type() != SEALED_TYPE]  # an investor's stubs have no data
        assert all("actor" not in e.get_attributes() and "actor" in e.get_data() for e in in_full)  # type: ignore[operator]
        assert verify_chain(chain_item(item) for item in response.json()).valid
    evaluator_events = parse_batch_strictly(response)
    assert any(e.get_extension("pseudonym") for e in evaluator_events)


async def test_the_stream_sends_strict_cloudevents(published: Published, outcomes: httpx.AsyncClient) -> None:
    cast = published.cast
    got: list[bytes] = []
    async with outcomes.stream(
        "GET", "/v1/feed/stream", headers=cast.evaluator.headers, timeout=30
    ) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("data: "):
                got.append(line[6:].encode())
                if len(got) == len(published.ledger):
                    break
    events = [parse_strictly(body) for body in got]
    assert [e.get_id() for e in events] == [i["event"]["id"] for i in published.ledger]


async def test_a_webhook_delivery_verifies_with_standardwebhooks_then_parses_strictly(
    published: Published,
) -> None:
    receiver = published.receiver
    assert receiver.bad_signatures == 0
    types = set()
    for headers, body in receiver.raw.values():
        Webhook(receiver.secret).verify(body, headers)  # what the receiver checked, again from the raw bytes
        assert headers["Content-Type"] == STRUCTURED
        event = parse_strictly(body, headers)
        types.add(event.get_type())
    assert types == {i["event"]["type"] for i in published.ledger}


async def test_the_ledger_reads_and_the_export_carry_strict_cloudevents(
    published: Published, outcomes: httpx.AsyncClient
) -> None:
    cast = published.cast
    for item in published.ledger:
        parse_strictly(json.dumps(item["event"]).encode())
    assert verify_chain(published.ledger).valid
    for reader in (cast.evaluator, cast.investor):  # in full, and with person-level events sealed
        ledger = await whole_ledger(outcomes, reader, cast.partnership_id)
        response = await outcomes.get(
            f"/v1/partnerships/{cast.partnership_id}/ledger/export", headers=reader.headers
        )
        assert response.status_code == 200, response.text
        lines = [json.loads(line) for line in response.text.splitlines()]
        assert [line["event"] for line in lines] == [i["event"] for i in ledger]
        for line in lines + ledger:
            parse_strictly(json.dumps(line["event"]).encode())
        assert verify_chain(lines).valid
        assert verify_chain(ledger).valid


async def test_every_emitted_event_is_catalogued_and_its_data_matches_its_schema(
    published: Published, outcomes: httpx.AsyncClient
) -> None:
    document = catalogue()
    types = catalogued_types(document)
    cast = published.cast
    emitted: set[str] = set()
    for reader in (cast.investor, cast.evaluator, cast.payer_a):  # each audience's rendering
        response = await outcomes.get(
            "/v1/feed",
            params={"partnership": str(cast.partnership_id), "limit": 1000},
            headers=reader.headers,
        )
        for event in response.json():
            assert event["type"] in types, f"{event['type']} is not in docs/asyncapi.yaml"
            errors = [e.message for e in payload_validator(document, types[event["type"]]).iter_errors(event)]
            assert not errors, (event["type"], errors, event)
            emitted.add(event["type"])
    # The run covers everything but an expiry (a contract's end date passing), a retroactive re-pricing, a
    # withdrawal from publication, a tranche booking, a variation's booking, a post-payment audit and a
    # cohort payment (checked against the catalogue where they happen: tests/outcomes/test_rate_cards.py,
    # test_contract_events.py, test_tranches.py, test_variations.py, test_audits.py,
    # test_cohort_payments.py).
    assert set(types) - emitted == {
        "dk.effekt.contract.expired",
        "dk.effekt.claim.repriced",
        "dk.effekt.disclosure.withdrawn",
        "dk.effekt.tranche.booked",
        "dk.effekt.variation.booked",
        "dk.effekt.audit.opened",
        "dk.effekt.audit.closed",
        "dk.effekt.claim.clawed_back",
        "dk.effekt.cohort_payment.submitted",
        "dk.effekt.cohort_payment.approved",
        "dk.effekt.cohort_payment.rejected",
        "dk.effekt.cohort_payment.booked",
    }
    for _, body in published.receiver.raw.values():  # webhooks carry the same messages
        event = json.loads(body)
        assert not list(payload_validator(document, types[event["type"]]).iter_errors(event))
