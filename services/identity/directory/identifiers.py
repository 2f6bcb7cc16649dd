"""Organisation identifiers beyond the Danish CVR, in the org-id.guide style `<scheme>-<identifier>`:
`DK-CVR-12345678`, `GB-COH-01234567`, `GB-GOR-PB123`, `XI-LEI-...`. Pure; no I/O.

Each scheme we accept is listed with the shape of its identifiers and, where the register publishes one,
its check digit (CVR modulus 11, the Norwegian organisation number's modulus 11, Swedish Luhn, the LEI's
ISO 7064 mod 97-10). A scheme not listed is refused with the closest listed one, never accepted on trust:
a typo in the scheme (`DK-CRV`) would otherwise name nobody. Adding a scheme is one row.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_CVR_WEIGHTS = (2, 7, 6, 5, 4, 3, 2, 1)
_BRC_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2, 1)


def valid_cvr(cvr: str) -> bool:
    """Eight digits whose weighted sum (2,7,6,5,4,3,2,1) is divisible by 11; no leading zero."""
    if not re.fullmatch(r"[1-9][0-9]{7}", cvr):
        return False
    return sum(int(d) * w for d, w in zip(cvr, _CVR_WEIGHTS, strict=True)) % 11 == 0


def _brc(number: str) -> bool:
    return sum(int(d) * w for d, w in zip(number, _BRC_WEIGHTS, strict=True)) % 11 == 0


def _luhn(number: str) -> bool:
    total = 0
    for i, digit in enumerate(reversed(number)):
        d = int(digit) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _mod97(code: str) -> bool:
    return int("".join(str(int(c, 36)) for c in code)) % 97 == 1


@dataclass(frozen=True, slots=True)
class Scheme:
    register: str
    pattern: str
    example: str
    check: Callable[[str], bool] | None = None


SCHEMES: Mapping[str, Scheme] = {
    "DK-CVR": Scheme(
        "Danish Central Business Register (CVR)", r"[1-9][0-9]{7}", "DK-CVR-29403473", valid_cvr
    ),
    "GB-COH": Scheme("UK Companies House", r"[0-9]{8}|[A-Z]{2}[0-9]{6}", "GB-COH-01234567"),
    "GB-CHC": Scheme("Charity Commission for England and Wales", r"[0-9]{6,7}", "GB-CHC-1123456"),
    "GB-SC": Scheme("Scottish Charity Register", r"SC[0-9]{6}", "GB-SC-SC012345"),
    "GB-NIC": Scheme("Charity Commission for Northern Ireland", r"[0-9]{5,6}", "GB-NIC-100012"),
    "GB-GOR": Scheme("UK government organisation register", r"[A-Z]{1,2}[0-9]{1,5}", "GB-GOR-PB123"),
    "GB-LAE": Scheme("Local authorities in England", r"[A-Z]{3,4}", "GB-LAE-BIR"),
    "GB-LAS": Scheme("Local authorities in Scotland", r"[A-Z]{3,4}", "GB-LAS-EDH"),
    "GB-LAW": Scheme("Local authorities in Wales", r"[A-Z]{3,4}", "GB-LAW-CRF"),
    "NO-BRC": Scheme("Brønnøysund Register Centre", r"[89][0-9]{8}", "NO-BRC-974760673", _brc),
    "SE-BLV": Scheme("Swedish Companies Registration Office", r"[0-9]{10}", "SE-BLV-5560360793", _luhn),
    "NL-KVK": Scheme("Netherlands Chamber of Commerce", r"[0-9]{8}", "NL-KVK-41202536"),
    "XI-LEI": Scheme(
        "Global Legal Entity Identifier", r"[A-Z0-9]{18}[0-9]{2}", "XI-LEI-5493001KJTIIGC8Y1R12", _mod97
    ),
}

CVR_SCHEME = "DK-CVR"


class BadIdentifier(ValueError):
    """Why a text is not an identifier we accept (the message says how to write one)."""


def parse_identifier(text: str) -> str:
    """The identifier in its one written form (upper case, no surrounding space), or BadIdentifier."""
    written = text.strip().upper()
    parts = written.split("-", 2)
    if len(parts) != 3 or not all(parts):
        raise BadIdentifier("write it as <scheme>-<identifier>, e.g. DK-CVR-29403473 or GB-COH-01234567")
    scheme_code, local = f"{parts[0]}-{parts[1]}", parts[2]
    scheme = SCHEMES.get(scheme_code)
    if scheme is None:
        close = difflib.get_close_matches(scheme_code, list(SCHEMES), n=1, cutoff=0.6)
        hint = f"; did you mean `{close[0]}`?" if close else f"; known schemes: {', '.join(SCHEMES)}"
        raise BadIdentifier(f"unknown scheme `{scheme_code}`{hint}")
    if not re.fullmatch(scheme.pattern, local):
        raise BadIdentifier(f"not a {scheme.register} identifier (e.g. {scheme.example})")
    if scheme.check is not None and not scheme.check(local):
        raise BadIdentifier(f"fails the {scheme.register}'s check digit")
    return written


def cvr_identifier(cvr: str) -> str:
    return f"{CVR_SCHEME}-{cvr}"


def cvr_of(identifier: str) -> str | None:
    """The CVR number a Danish identifier carries, else None."""
    prefix = f"{CVR_SCHEME}-"
    return identifier.removeprefix(prefix) if identifier.startswith(prefix) else None
