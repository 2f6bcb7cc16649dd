"""Text that PostgreSQL can store and people can read, as pydantic types every service's schemas share.

PostgreSQL `text` and `jsonb` cannot hold U+0000, so a NUL in input would fail at the database with a 500;
`Text` refuses it at the schema with a 422 naming the field. `Words` is text a person reads as a name,
a heading or a reason, where whitespace alone would be an invisible one.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Words = Annotated[Text, AfterValidator(_not_blank)]
