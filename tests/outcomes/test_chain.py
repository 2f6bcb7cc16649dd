"""The hash chain, checked offline: any edit, gap, reorder or re-link is pinpointed; the delivered
CloudEvent maps back to the hashed ledger record exactly, so chains hashed before that mapping verify."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from services.outcomes.chain import (
    GENESIS_HASH,
    canonical_json,
    event_of,
    format_sequence,
    link_hash,
    main,
    record_of,
    verify_chain,
)

ACTOR = {"organisation_id": "o1", "partner_type": "provider", "kind": "client", "subject": "s1"}


def record(seq: int, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"e{seq}",
        "type": "dk.effekt.test",
        "sequence": seq,
        "actor": ACTOR,
        "data": data,
    }


def build(n: int) -> list[dict[str, Any]]:
    events, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        event = event_of(record(seq, {"n": seq}))
        canonical = canonical_json(record_of(event))
        digest = link_hash(prev, canonical)
        events.append(
            {
                "sequence": seq,
                "prev_hash": prev,
                "hash": digest,
                "event": event,
                "canonical": canonical.decode(),
            }
        )
        prev = digest
    return events


def test_an_intact_chain_verifies() -> None:
    report = verify_chain(build(5))
    assert report.valid
    assert (report.checked, report.last_sequence) == (5, 5)


def test_an_empty_chain_is_valid() -> None:
    assert verify_chain([]).valid


def test_edited_content_is_pinpointed() -> None:
    events = build(5)
    events[2]["event"]["data"]["n"] = 99
    report = verify_chain(events)
    assert (report.valid, report.broken_at, report.checked) == (False, 3, 2)


def test_edited_canonical_bytes_are_pinpointed() -> None:
    events = build(4)
    events[1]["canonical"] = events[1]["canonical"].replace('"n":2', '"n":3')
    assert verify_chain(events).broken_at == 2


def test_a_recomputed_hash_breaks_the_next_link() -> None:
    events = build(4)
    events[1]["event"]["data"]["n"] = 7
    events[1]["canonical"] = canonical_json(record_of(events[1]["event"])).decode()
    events[1]["hash"] = link_hash(events[1]["prev_hash"], events[1]["canonical"].encode())
    report = verify_chain(events)
    assert report.broken_at == 3
    assert "prev_hash" in (report.reason or "")


@pytest.mark.parametrize("mutation", ["gap", "swap"])
def test_gaps_and_reordering_are_pinpointed(mutation: str) -> None:
    events = build(5)
    if mutation == "gap":
        del events[2]
    else:
        events[2], events[3] = events[3], events[2]
    assert verify_chain(events).broken_at == 3


def test_a_later_page_verifies_from_the_hash_it_continues() -> None:
    events = build(6)
    report = verify_chain(events[3:], prev_hash=events[2]["hash"], start_sequence=4)
    assert report.valid


def test_the_command_line_checks_a_ledger_file(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    events = build(3)
    good.write_text(json.dumps({"items": events}))
    tampered = copy.deepcopy(events)
    tampered[0]["event"]["type"] = "dk.effekt.forged"
    bad.write_text(json.dumps(tampered))
    assert main([str(good)]) == 0
    assert main([str(bad)]) == 1


def test_non_ascii_content_hashes_as_utf8_and_survives_a_json_round_trip() -> None:
    event = event_of(record(1, {"by": "Århus Æblegård"}))
    canonical = canonical_json(record_of(event))
    assert "Århus".encode() in canonical
    item = {
        "sequence": 1,
        "prev_hash": GENESIS_HASH,
        "hash": link_hash(GENESIS_HASH, canonical),
        "event": event,
    }
    assert verify_chain(json.loads(json.dumps([{**item, "canonical": canonical.decode()}]))).valid


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    alphabet = [chr(i) for i in range(0x80)] + ["\u2028", "\u2029", "é", "ø", "\ue000", "\uffff", "😀"]
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
    kind = rng.randint(0, 9 if depth < 3 else 5)
    if kind == 0:
        return text
    if kind == 1:
        return rng.choice([None, True, False])
    if kind == 2:
        return rng.choice([0, -1, 7, 2**53 - 1, -(2**53) + 1, 2**53, 10**20])
    if kind == 3:
        return rng.choice([0.5, 1e21, -0.0, 1.0, 123.456])
    if kind in (4, 5):
        return text
    if kind in (6, 7):
        return {_random_key(rng, alphabet): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def _random_key(rng: random.Random, alphabet: list[str]) -> str:
    return "".join(
        rng.choice(alphabet if rng.random() < 0.2 else "abcXYZ_1") for _ in range(rng.randint(0, 5))
    )


def test_the_fast_canonical_form_is_byte_for_byte_rfc_8785() -> None:
    rng = random.Random(8785)
    for _ in range(5000):
        event = {"data": _random_value(rng), "sequence": rng.randint(1, 10**6), "\u00e9": "non-ASCII key"}
        for value in (event, {k: v for k, v in event.items() if k.isascii()}):
            try:
                expected = rfc8785.dumps(value)
            except rfc8785.CanonicalizationError:  # numbers JSON cannot carry exactly
                with pytest.raises(rfc8785.CanonicalizationError):
                    canonical_json(value)
                continue
            assert canonical_json(value) == expected, value


def test_a_chain_hashed_before_events_were_delivered_as_cloudevents_still_verifies() -> None:
    """A stored record, hashed exactly as the ledger always has (JCS of the record, integer sequence and
    `actor` beside `data`), checked from the CloudEvent the feed now delivers for it."""
    stored: dict[str, Any] = {
        "specversion": "1.0",
        "id": "5f0c3a52-0d7f-4d55-9a57-2b8a3c8e1d10",
        "source": "https://effekt.dk/outcomes/partnerships/0b9a7f3e-56a1-4f1e-9d0e-3f3c2d1b0a99",
        "type": "dk.effekt.claim.verified",
        "subject": "outcome-claims/9d1c",
        "time": "2026-11-28T09:15:00.000000Z",
        "datacontenttype": "application/json",
        "partnershipid": "0b9a7f3e-56a1-4f1e-9d0e-3f3c2d1b0a99",
        "sequence": 1,
        "actor": ACTOR,
        "data": {"claim_id": "9d1c", "payable": "40000.00", "currency": "DKK"},
    }
    digest = link_hash(GENESIS_HASH, rfc8785.dumps(stored))
    delivered = event_of(stored) | {"ledgerhash": digest, "ledgerprevhash": GENESIS_HASH}
    assert "actor" not in delivered
    assert delivered["data"]["actor"] == ACTOR
    assert delivered["sequence"] == "0000000000000000001"
    item = {"sequence": 1, "prev_hash": GENESIS_HASH, "hash": digest, "event": delivered}
    assert verify_chain([item]).valid
    assert record_of(delivered) == stored


def test_sequence_strings_sort_as_their_numbers() -> None:
    rng = random.Random(19)
    numbers = sorted({rng.randint(1, 2**63 - 1) for _ in range(500)} | {1, 9, 10, 99, 100, 2**63 - 1})
    assert sorted(format_sequence(n) for n in numbers) == [format_sequence(n) for n in numbers]
    with pytest.raises(ValueError, match="not a ledger sequence"):
        format_sequence(0)


@pytest.mark.parametrize(
    "forged",
    [
        {"sequence": "1"},  # not the padded form the ledger writes
        {"sequence": 1},  # an integer, as the feed once sent
        {"data": {"n": 1}},  # the actor taken out of the data
    ],
)
def test_an_event_not_in_the_delivered_form_is_pinpointed(forged: dict[str, Any]) -> None:
    events = build(2)
    events[0]["event"] = events[0]["event"] | forged
    assert verify_chain(events).broken_at == 1


def test_the_command_line_reads_the_exports_ndjson(tmp_path: Path) -> None:
    export = tmp_path / "ledger.ndjson"
    export.write_text(
        "".join(json.dumps({k: v for k, v in e.items() if k != "canonical"}) + "\n" for e in build(3))
    )
    assert main([str(export)]) == 0
