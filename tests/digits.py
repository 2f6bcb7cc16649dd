"""The same number written with other scripts' digits: Python's `\\d`, `int()`, `Decimal()` and
`str.isdigit()` take (some of) these, so every identifier and amount parser is tested against each."""

from __future__ import annotations

# Unicode decimal digits (category Nd): `\d`, `int()` and `Decimal()` read them as 0-9.
DECIMAL_ZEROS = {
    "fullwidth": 0xFF10,
    "Arabic-Indic": 0x0660,
    "Extended Arabic-Indic": 0x06F0,
    "Devanagari": 0x0966,
    "Bengali": 0x09E6,
    "mathematical bold": 0x1D7CE,  # a compatibility form: NFKC folds it to ASCII
}
# Digits that are not decimal digits but pass `str.isdigit()` (and then make `int()` raise).
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")

FAMILIES = [*DECIMAL_ZEROS, "superscript"]


def written_in(family: str, ascii_digits: str) -> str:
    """`ascii_digits` with each ASCII digit replaced by that family's; other characters kept."""
    if family == "superscript":
        return ascii_digits.translate(SUPERSCRIPT)
    zero = DECIMAL_ZEROS[family]
    return "".join(chr(zero + int(c)) if "0" <= c <= "9" else c for c in ascii_digits)
