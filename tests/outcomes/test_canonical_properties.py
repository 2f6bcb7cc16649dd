"""The chain's canonical form over any JSON value hypothesis can build (test_chain.py samples a fixed
alphabet): byte for byte the `rfc8785` reference, blind to key insertion order, and, for records shaped as
the ledger's are, a fixed point of parse-then-canonicalise, so a hash survives a reader's JSON round trip."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from services.outcomes.chain import canonical_json


def _events(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
        max_leaves=20,
    )
    return st.dictionaries(st.text(max_size=6), values, max_size=6)


# What a ledger record holds: money and facts are decimal strings, counts integers, never a float.
plain = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text()
events = _events(plain | st.floats(allow_nan=False, allow_infinity=False))
ledger_like = _events(plain)


def _reordered(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _reordered(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_reordered(v, rng) for v in value]
    return value


@given(events)
def test_the_canonical_form_is_the_reference_rfc_8785_form(event: dict[str, Any]) -> None:
    try:
        expected = rfc8785.dumps(event)
    except rfc8785.CanonicalizationError:  # integers beyond what JSON numbers carry exactly
        with pytest.raises(rfc8785.CanonicalizationError):
            canonical_json(event)
        return
    assert canonical_json(event) == expected


@given(events, st.randoms(use_true_random=False))
def test_key_order_leaves_the_canonical_bytes_unchanged(event: dict[str, Any], rng: random.Random) -> None:
    try:
        canonical = canonical_json(event)
    except rfc8785.CanonicalizationError:
        return
    assert canonical_json(_reordered(event, rng)) == canonical


@given(ledger_like)
def test_a_float_free_records_canonical_bytes_survive_a_json_round_trip(event: dict[str, Any]) -> None:
    # Floats need not: RFC 8785 writes 2.0**53 as `9007199254740992`, which a JSON parser reads back as an
    # integer outside the exact range, and so refused. Ledger records carry no floats.
    try:
        canonical = canonical_json(event)
    except rfc8785.CanonicalizationError:
        return
    assert canonical_json(json.loads(canonical)) == canonical
