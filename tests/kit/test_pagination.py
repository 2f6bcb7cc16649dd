"""Batch reads' `ids=`: what the OpenAPI pattern documents is what `parse_ids` accepts."""

from __future__ import annotations

import re
import uuid

import pytest

from kit.pagination import UUID_LIST_PATTERN, parse_ids
from kit.problems import BadRequest

# Fixed: pytest-xdist's workers must collect the same parametrised ids.
A, B = uuid.UUID("6f1c2a4e-0b7d-4e3a-9c55-1d2e3f405162"), uuid.UUID("0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d")


@pytest.mark.parametrize("raw", ["", str(A), f"{A},{B}", f"{A.hex},{B}", str(A).upper()])
def test_a_documented_list_parses(raw: str) -> None:
    assert re.fullmatch(UUID_LIST_PATTERN, raw)
    assert parse_ids(raw) == [A, B][: len(raw) and raw.count(",") + 1]


@pytest.mark.parametrize("raw", ["x", f"{A};{B}", f"{A},not-an-id", f"{A},", f",{A}", f"{A}, {B}"])
def test_an_undocumented_list_is_a_400_naming_ids(raw: str) -> None:
    assert not re.fullmatch(UUID_LIST_PATTERN, raw)
    with pytest.raises(BadRequest) as refused:
        parse_ids(raw)
    assert [p.name for p in refused.value.invalid_params or []] == ["ids"]


def test_a_batch_is_bounded() -> None:
    with pytest.raises(BadRequest, match="at most 2 ids"):
        parse_ids(",".join(str(uuid.uuid4()) for _ in range(3)), at_most=2)
    assert parse_ids(None) is None
