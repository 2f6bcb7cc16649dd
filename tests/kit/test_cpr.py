"""The one rule for CPR-shaped numbers in free text (`kit.cpr`): every spelling of a person's number is
found, in any script's digits and through spacing tricks; ids, hashes, dates and phone numbers are not."""

from __future__ import annotations

import pytest

from kit.cpr import contains_cpr, redact_cpr
from tests.digits import FAMILIES, written_in

NUMBER = "010190-1234"

SPELLINGS = {
    "plain": "0101901234",
    "hyphen": "010190-1234",
    "in a sentence": "født 010190-1234 i Herning",
    "after a label": "CPR:0101901234.",
    "spaced": "01 01 90 12 34",
    "spaced round the dash": "010190 - 1234",
    "digit by digit": "0 1 0 1 9 0 1 2 3 4",
    "zero-width space": "010190\u200b1234",
    "soft hyphens": "01\u00ad01\u00ad90\u00ad12\u00ad34",
    "no-break space": "010190\u00a01234",
    "en dash": "010190\u20131234",
    "minus sign": "010190\u22121234",
    "fullwidth hyphen": "010190\uff0d1234",
    "after a longer number": "12 0101901234",
    "line break": "010190\n1234",
    "underscore": "cpr_0101901234",
    "invalid date, plain": "3213990000",  # not a real number, but the shape alone keeps it out
}

NOT_CPR = {
    "uuid": "550e8400-e29b-41d4-a716-446655440000",
    "uuid with a six-digit tail": "ab123456-7890-41d4-a716-446655440000",
    "sha-256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "hex id with ten digits inside": "a0202904321b",
    "eleven digits": "01019012345",
    "thirteen digits": "0101901234567",
    "a date and a time": "2026-01-15 10:30",
    "a dashed date": "15-01-2026 10",
    "a phone number": "+45 20 30 40 50",
    "a spaced number that is no date": "12 34 56 78 90",
    "fullwidth, invalid date": written_in("fullwidth", "3213990000"),
    "short": "010190",
}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_a_cpr_number_is_found(spelling: str) -> None:
    assert contains_cpr(SPELLINGS[spelling])


@pytest.mark.parametrize("family", FAMILIES)
def test_a_cpr_number_in_other_scripts_digits_is_found(family: str) -> None:
    assert contains_cpr(written_in(family, NUMBER))
    assert contains_cpr(f"nr. {written_in(family, '0101901234')}")


@pytest.mark.parametrize("value", NOT_CPR)
def test_ids_hashes_dates_and_phone_numbers_are_not_cpr_shaped(value: str) -> None:
    assert not contains_cpr(NOT_CPR[value])


def test_redaction_replaces_each_number_once_and_keeps_the_rest() -> None:
    text = (
        f"a {SPELLINGS['plain']} b {SPELLINGS['spaced']} c {written_in('Devanagari', NUMBER)} d a0202904321b"
    )
    assert redact_cpr(text, "[x]") == "a [x] b [x] c [x] d a0202904321b"
