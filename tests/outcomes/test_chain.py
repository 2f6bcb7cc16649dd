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
    SEALED_TYPE,
    canonical_json,
    commitment,
    disclose,
    event_of,
    format_sequence,
    is_commitment,
    link_hash,
    main,
    new_salt,
    new_salts,
    record_hash,
    record_of,
    sealed_stub,
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


# --- record format 2: commitments, disclosure, sealed stubs (issue 17) ------------------------------------


def build_format_2(n: int, *, start_prev: str = GENESIS_HASH, first: int = 1) -> list[dict[str, Any]]:
    """Format-2 items: each a person-level record whose reason is committed, delivered in full with salts."""
    items, prev = [], start_prev
    for seq in range(first, first + n):
        salt = new_salt()
        record = {
            "specversion": "1.0",
            "id": f"e{seq}",
            "source": "https://effekt.dk/outcomes/partnerships/p1",
            "time": "2026-12-03T11:00:00.000000Z",
            "partnershipid": "p1",
            "type": "dk.effekt.participant.exited",
            "recordformat": "2",
            "sequence": seq,
            "actor": ACTOR,
            "data": {"reason": commitment(salt, f"Moved, told by person {seq}"), "n": seq},
        }
        canonical = canonical_json(record)
        digest = record_hash(prev, record, canonical)
        event = disclose(event_of(record), {"data.reason": (salt, f"Moved, told by person {seq}")})
        items.append({"sequence": seq, "prev_hash": prev, "hash": digest, "event": event, "record": record})
        prev = digest
    return items


def test_a_disclosed_value_maps_back_to_its_commitment() -> None:
    items = build_format_2(3)
    assert items[1]["event"]["data"]["reason"] == "Moved, told by person 2"
    assert record_of(items[1]["event"]) == items[1]["record"]
    assert verify_chain(items).valid


def test_a_disclosed_value_that_was_altered_breaks_the_chain() -> None:
    items = build_format_2(3)
    items[1]["event"]["data"]["reason"] = "Verified after all"
    assert verify_chain(items).broken_at == 2
    salts = json.loads(items[2]["event"]["ledgersalts"])
    items[2]["event"]["ledgersalts"] = json.dumps({p: "0" * 32 for p in salts})  # a forged salt
    items[1]["event"]["data"]["reason"] = "Moved, told by person 2"
    assert verify_chain(items).broken_at == 3


def test_the_same_value_never_commits_the_same_twice() -> None:
    assert commitment(new_salt(), "participant-1") != commitment(new_salt(), "participant-1")
    assert is_commitment(commitment("s", {"a": 1}))
    assert not is_commitment("sha256:" + "g" * 64)


def test_salts_drawn_together_are_each_a_salt_of_their_own() -> None:
    salts = new_salts(7)
    assert len(salts) == 7 == len(set(salts))
    assert all(len(s) == len(new_salt()) == 32 and int(s, 16) >= 0 for s in salts)
    assert new_salts(0) == []


def test_sealed_stubs_verify_their_links_and_a_changed_digest_is_pinpointed() -> None:
    items = build_format_2(4)
    sealed = [
        {**item, "event": sealed_stub(item["record"], canonical_json(item["record"]))} if i % 2 else item
        for i, item in enumerate(items)
    ]
    assert {e["event"]["type"] for e in sealed} == {SEALED_TYPE, "dk.effekt.participant.exited"}
    assert "data" not in sealed[1]["event"]
    assert verify_chain(sealed).valid
    sealed[1]["event"]["ledgerdigest"] = "f" * 64
    assert verify_chain(sealed).broken_at == 2


def test_a_chain_of_format_1_then_format_2_verifies_whole() -> None:
    old = build(3)
    new = build_format_2(2, start_prev=old[-1]["hash"], first=4)
    assert verify_chain([*old, *new]).valid
    # A format-1 stub (no digest) is checked for its place only.
    where = {"source": "https://effekt.dk/outcomes/partnerships/p1", "time": "t", "partnershipid": "p1"}
    stub = {**old[1], "event": sealed_stub({**record_of(old[1]["event"]), **where}, b"")}
    assert "ledgerdigest" not in stub["event"]
    assert verify_chain([old[0], stub, old[2], *new]).valid
    # Dropping the format marker from a format-2 record is not a way to another formula.
    forged = copy.deepcopy(new)
    del forged[0]["event"]["recordformat"]
    assert verify_chain([*old, *forged]).broken_at == 4


def test_the_disclosure_of_a_value_not_matching_its_commitment_is_refused() -> None:
    record = build_format_2(1)[0]["record"]
    event = disclose(event_of(record), {"data.reason": ("wrong-salt", "Moved, told by person 1")})
    assert event["data"]["reason"] == record["data"]["reason"]  # left as the commitment
    assert json.loads(event["ledgersalts"]) == {}
