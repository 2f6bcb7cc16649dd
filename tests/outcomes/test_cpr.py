"""CPR validation: 10 digits and a real birth date whose century comes from the 7th digit."""

from __future__ import annotations

from datetime import date

import pytest

from services.outcomes.cpr import InvalidCpr, birth_century, parse_cpr
from tests.digits import FAMILIES, written_in


@pytest.mark.parametrize(
    ("value", "born"),
    [
        ("0101900123", date(1990, 1, 1)),  # 7th digit 0-3: 1900s
        ("311299-3999", date(1999, 12, 31)),
        ("0101364000", date(2036, 1, 1)),  # 4 and 9: 00-36 is 2000s
        ("0101374000", date(1937, 1, 1)),  # ...37-99 is 1900s
        ("0101109000", date(2010, 1, 1)),
        ("0101575000", date(2057, 1, 1)),  # 5-8: 00-57 is 2000s
        ("0101588000", date(1858, 1, 1)),  # ...58-99 is 1800s
        ("2902004234", date(2000, 2, 29)),  # a leap day
    ],
)
def test_valid_cpr_numbers_give_their_birth_date(value: str, born: date) -> None:
    assert parse_cpr(value).birth_date == born


def test_modulus_11_is_not_enforced() -> None:
    # 0101900001 fails the modulus 11 check, yet later CPR numbers legitimately do.
    assert parse_cpr("0101900001").digits == "0101900001"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "123456789",  # 9 digits
        "12345678901",  # 11 digits
        "01019O0123",  # a letter
        "3202901234",  # 32 February
        "2902011234",  # 29 Feb 1901 is not a leap day
        "0013901234",  # month 13
        "0001901234",  # day 0
        "010190 1234",
        "01-0190-1234",
    ],
)
def test_malformed_or_impossible_cpr_numbers_are_refused(value: str) -> None:
    with pytest.raises(InvalidCpr):
        parse_cpr(value)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("form", ["0101900123", "010190-0123", "0101900123\n"])
def test_a_cpr_number_in_other_digits_is_refused_not_read_as_the_same_person(family: str, form: str) -> None:
    # `\d` takes every script's decimal digits: the same number would hash to a second pseudonym.
    for value in (written_in(family, form), form[:6] + written_in(family, form[6:])):
        with pytest.raises(InvalidCpr, match="ASCII"):
            parse_cpr(value)


def test_each_accepted_spelling_gives_the_one_canonical_form_that_is_hashed() -> None:
    forms = ["0101900123", "010190-0123", " 0101900123 ", "010190-0123\n"]
    assert {parse_cpr(v).digits for v in forms} == {"0101900123"}


def test_a_birth_date_in_the_future_is_refused_when_today_is_given() -> None:
    with pytest.raises(InvalidCpr):
        parse_cpr("0101505000", today=date(2026, 11, 27))  # 2050


def test_the_number_never_appears_in_its_representation() -> None:
    cpr = parse_cpr("0101900123")
    assert "0101900123" not in repr(cpr)
    assert "0101900123" not in str(cpr)


def test_century_table() -> None:
    assert [birth_century(36, d) for d in range(10)] == [1900] * 4 + [2000] * 6
    assert [birth_century(58, d) for d in range(10)] == [1900] * 4 + [1900, 1800, 1800, 1800, 1800, 1900]
