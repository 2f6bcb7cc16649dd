"""The JSON depth limit, exactly at its boundary, without recursion (pure logic; the HTTP and WebSocket
answers are in tests/gateway/test_hostile_input.py)."""

from __future__ import annotations

import json

import pytest

from gateway.input_limits import MAX_JSON_DEPTH, TooDeep, decode_json, too_deep


def _nested(levels: int, *, opener: str = "[", closer: str = "]") -> str:
    return opener * levels + closer * levels


@pytest.mark.parametrize("levels", [1, 2, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH])
def test_json_up_to_the_limit_is_read(levels: int) -> None:
    assert decode_json(_nested(levels)) == json.loads(_nested(levels))


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 1024, 1025, 100_000])
def test_json_past_the_limit_is_too_deep_however_deep(levels: int) -> None:
    with pytest.raises(TooDeep):
        decode_json(_nested(levels))


def test_objects_and_arrays_count_alike_and_scalars_not_at_all() -> None:
    mixed = '{"a": [{"b": [{"c": 1}]}]}'  # five containers deep
    assert not too_deep(json.loads(mixed), 5)
    assert too_deep(json.loads(mixed), 4)
    assert not too_deep("deep", 0)
    assert not too_deep(json.loads('{"a": [1, "x", null, true]}'), 2)


def test_a_wide_shallow_document_is_not_too_deep() -> None:
    wide = {"items": [{"id": i, "tags": ["a", "b"]} for i in range(10_000)]}
    assert not too_deep(wide, 4)
    assert too_deep(wide, 3)
