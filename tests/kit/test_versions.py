"""Row-version ETags back in If-Match: the documented pattern and the parser agree."""

from __future__ import annotations

import re

import pytest

from kit.problems import BadRequest
from kit.versions import IF_MATCH_PATTERN, parse_if_match


@pytest.mark.parametrize(("raw", "version"), [('"3"', 3), ('W/"12"', 12), ("7", 7), (' "4" ', 4)])
def test_a_version_etag_is_read_strong_or_weak(raw: str, version: int) -> None:
    assert re.fullmatch(IF_MATCH_PATTERN, raw)
    assert parse_if_match(raw) == version


@pytest.mark.parametrize("raw", ['"abc"', "", '"-1"', '"1.5"', "*"])
def test_anything_else_is_a_400_naming_the_header(raw: str) -> None:
    assert not re.fullmatch(IF_MATCH_PATTERN, raw)
    with pytest.raises(BadRequest) as refused:
        parse_if_match(raw)
    assert [p.name for p in refused.value.invalid_params or []] == ["If-Match"]


def test_no_header_is_no_version() -> None:
    assert parse_if_match(None) is None
