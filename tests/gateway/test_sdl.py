"""The checked-in SDL (`schema.graphql`, `schemas/<partner type>.graphql`) matches the code: partner UI
teams build against those files, so a schema change must update them (`python -m gateway.schema`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import policy
from gateway.schema import sdl_files

ROOT = Path(__file__).resolve().parents[2]
FILES = sdl_files(ROOT)


@pytest.mark.parametrize("path", sorted(FILES), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_checked_in_sdl_matches_the_code(path: Path) -> None:
    assert path.exists(), f"{path.relative_to(ROOT)} is missing: run `python -m gateway.schema`"
    assert path.read_text() == FILES[path], (
        f"{path.relative_to(ROOT)} drifted: run `python -m gateway.schema`"
    )


def test_there_is_one_variant_per_partner_type_and_no_other() -> None:
    assert {p.stem for p in (ROOT / "schemas").glob("*.graphql")} == set(policy.PARTNER_TYPES)


@pytest.mark.parametrize("partner_type", policy.PARTNER_TYPES)
def test_each_variant_names_no_type_the_policy_hides_from_it(partner_type: str) -> None:
    sdl = FILES[ROOT / "schemas" / f"{partner_type}.graphql"]
    declared = {
        line.split()[1] for line in sdl.splitlines() if line.startswith(("type ", "input ", "union "))
    }
    hidden = {name for name, who in policy.TYPES.items() if partner_type not in who}
    assert not declared & hidden


def test_every_query_in_the_partner_ui_guide_is_valid_for_some_partner_type() -> None:
    import re

    from graphql import parse, validate

    from gateway.schema import build_schema

    guide = (ROOT / "docs" / "gateway.md").read_text()
    blocks = re.findall(r"```graphql\n(.*?)```", guide, re.S)
    assert blocks
    for block in blocks:
        document = parse(block)
        assert any(not validate(build_schema(p)._schema, document) for p in policy.PARTNER_TYPES), block
