"""What the platform publishes, as an integrator's off-the-shelf tools read it: a run that makes every kind
of event the service knows, a CloudEvents parser as strict as the official SDK and the spec allow, and the
event catalogue (docs/asyncapi.yaml) with a validator for each message it lists."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import yaml
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from cloudevents.v1 import http as legacy_http
from cloudevents.v1.pydantic import v2 as typed
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from effekt.sandbox.identifiers import synthetic_cpr
from tests.actors import Cast
from tests.outcomes.support import (
    TODAY,
    active_contract,
    check,
    claim,
    confirm,
    decide,
    employment_terms,
    enrol,
    key,
    quarter,
)

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
# CloudEvents 1.0 §"Attribute Naming Convention": lower-case ASCII letters and digits, at most 20 (SHOULD).
ATTRIBUTE_NAME = re.compile(r"[a-z0-9]{1,20}")
INT32 = range(-(2**31), 2**31)


def parse_strictly(body: bytes, headers: dict[str, str] | None = None) -> CloudEvent:
    """One structured-mode CloudEvent, read by the SDK's three readers, held to the spec's type system (the
    SDK checks extension names but not their types), and round-tripped through binary mode, which only
    scalar attributes survive unchanged."""
    headers = {k.lower(): v for k, v in (headers or {"content-type": STRUCTURED}).items()}
    assert headers["content-type"].startswith(STRUCTURED), headers
    message = ce_http.HTTPMessage(headers=headers, body=body)
    event = ce_http.from_http(message, JSONFormat(), CloudEvent)
    assert isinstance(event, CloudEvent)
    assert legacy_http.from_http(headers, body).get_data() == event.get_data()
    assert typed.from_http(headers, body).id == event.get_id()
    raw = json.loads(body)
    assert isinstance(raw, dict)
    for name, value in raw.items():
        if name == "data":
            continue
        assert ATTRIBUTE_NAME.fullmatch(name), f"attribute name {name!r}"
        assert isinstance(value, str | bool) or (type(value) is int and value in INT32), (name, value)
    binary = ce_http.to_binary(event, JSONFormat())
    back = ce_http.from_binary(binary, JSONFormat(), CloudEvent)
    assert back.get_attributes() == event.get_attributes()
    assert back.get_data() == event.get_data()
    return event


def parse_batch_strictly(response: httpx.Response) -> list[CloudEvent]:
    """A batch-mode body: the SDK has no batch reader, so each member is read as the structured event the
    batch format (CloudEvents JSON format §4) says it is."""
    assert response.headers["content-type"].startswith(BATCH), response.headers
    items = json.loads(response.content)
    assert isinstance(items, list)
    return [parse_strictly(json.dumps(item).encode()) for item in items]


async def run_every_kind_of_event(
    cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient
) -> UUID:
    """Drive one partnership through everything that makes a ledger event: a contract activated and
    terminated, participants enrolled, confirmed and exited, claims submitted, verified, rejected,
    disputed and resolved, a statement drafted, issued (and summarised) and paid, and an erasure.
    Returns the contract id."""
    contract_id, version_id = await active_contract(contracts, cast, employment_terms(cast))
    people = [
        await enrol(
            outcomes,
            cast.provider,
            cast,
            contract_id,
            synthetic_cpr(n),
            municipality_code="657",
            enrolment_date=TODAY - timedelta(days=200),
        )
        for n in range(3)
    ]
    for person in people:
        await confirm(outcomes, cast.payer_a, person["id"])
    job_day = TODAY - timedelta(days=150)
    verified = await claim(outcomes, cast.provider, people[0]["id"], "job_start", job_day)
    await decide(outcomes, cast.payer_a, verified["id"], "verified")
    disputed = await claim(outcomes, cast.provider, people[1]["id"], "job_start", job_day)
    await decide(outcomes, cast.payer_a, disputed["id"], "rejected", reason="No payslip")
    check(
        await outcomes.post(
            f"/v1/outcome-claims/{disputed['id']}/dispute",
            json={"reason": "Payslip attached"},
            headers={**cast.provider.headers, **key()},
        ),
        200,
    )
    await decide(outcomes, cast.payer_a, disputed["id"], "verified", reason="Seen", path="dispute-resolution")
    check(
        await outcomes.post(
            f"/v1/participants/{people[2]['id']}/exit",
            json={"exit_date": (TODAY - timedelta(days=5)).isoformat(), "reason": "Moved"},
            headers={**cast.provider.headers, **key()},
        ),
        200,
    )
    start, end = quarter(job_day)
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
    path = f"/v1/payment-statements/{draft['id']}"
    check(await outcomes.post(f"{path}/issue", headers={**cast.provider.headers, **key()}), 200)
    check(await outcomes.post(f"{path}/payment", headers={**cast.payer_a.headers, **key()}), 200)
    check(  # the data controller erases the exited participant's free text (the chain still verifies)
        await outcomes.post(
            "/v1/erasures",
            json={"kind": "participant", "participant_id": people[2]["id"]},
            headers={**cast.payer_a.headers, **key()},
        ),
        201,
    )
    for actor in (cast.provider, cast.payer_a, cast.payer_b):  # termination by agreement of the signers
        ended = check(
            await contracts.post(
                f"/v1/contract-versions/{version_id}/termination",
                json={"effective_on": (TODAY + timedelta(days=400)).isoformat(), "reason": "Programme ends"},
                headers={**actor.headers, **key()},
            ),
            200,
        )
    assert ended["status"] == "terminated", ended
    return contract_id


def events_of(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item["event"] for item in items]


# --- the event catalogue (docs/asyncapi.yaml) --------------------------------------------------------------

CATALOGUE = Path(__file__).parents[3] / "docs" / "asyncapi.yaml"
BASE = "urn:effekt:asyncapi"


def catalogue() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CATALOGUE.read_text())
    return document


def catalogued_types(document: dict[str, Any]) -> dict[str, str]:
    """Event type -> its message's key, for the CloudEvents messages (the stream's control events aside)."""
    return {
        message["name"]: key
        for key, message in document["components"]["messages"].items()
        if message["name"].startswith("dk.effekt.")
    }


def payload_validator(document: dict[str, Any], message_key: str) -> Draft7Validator:
    """A JSON Schema (draft 7, AsyncAPI's default schema format) validator for one message's payload,
    resolving its references inside the catalogue, formats (uuid, date, date-time, uri) checked."""
    registry: Registry[Any] = Registry().with_resource(
        BASE, Resource.from_contents(document, default_specification=DRAFT7)
    )
    schema = {"$ref": f"{BASE}#/components/messages/{message_key}/payload"}
    return Draft7Validator(schema, registry=registry, format_checker=Draft7Validator.FORMAT_CHECKER)
