"""Text that PostgreSQL can store and people can read, as pydantic types every service's schemas share.

PostgreSQL `text` and `jsonb` cannot hold U+0000, so a NUL in input would fail at the database with a 500;
`Text` refuses it at the schema with a 422 naming the field. `Words` is text a person reads as a name,
a heading or a reason, where whitespace alone would be an invisible one.

`FreeText` and `FreeWords` are the same for a field a partner types freely and that may therefore hold
personal data (a cohort, a reason, a description): they refuse a CPR-shaped number (`kit.cpr`), since a
number written there would be stored, shown and exported in clear. The 422 names the field and never
echoes the value.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from kit.cpr import contains_cpr

NO_CPR = "must not hold a CPR number (or ten digits shaped like one): refer to a person by pseudonym"


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _no_cpr(value: str) -> str:
    if contains_cpr(value):
        raise ValueError(NO_CPR)
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Words = Annotated[Text, AfterValidator(_not_blank)]
FreeText = Annotated[Text, AfterValidator(_no_cpr)]
FreeWords = Annotated[Words, AfterValidator(_no_cpr)]
