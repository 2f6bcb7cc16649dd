"""CPR-shaped numbers in free text: one rule for refusing them at input, redacting them from log lines and
finding them in stored data (the test suite's privacy scan).

A CPR number is DDMMYY-SSSS: ten digits, an optional dash after the sixth. A value is CPR-shaped when it
holds ten digits that way, not part of a longer word or number (so no hex id, UUID or hash matches: a digit
run inside one touches a letter, or is longer than ten):

- written plainly (`0101901234`, `010190-1234`: ASCII digits, nothing between but that one dash), always;
- written with a trick, when its first six digits are a calendar date (DDMMYY), as a person's would be:
  other scripts' digits (fullwidth, Arabic-Indic, Devanagari, mathematical bold, superscripts: Python's
  `\\d` takes every Unicode decimal digit, so this module spells its digit class on purpose), up to three
  spaces or invisible characters (zero-width space, soft hyphen, bidi marks) between any two digits, or
  another dash (en dash, minus sign, fullwidth hyphen). The date keeps a spaced phone number
  (`+45 20 30 40 50`) or amount from passing for one.

Pure and standard-library only. Nothing here returns or logs the number found.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Iterator

# Every Unicode decimal digit (`\d` on str patterns: category Nd), and the superscript and subscript digits
# (category No), which NFKC folds to 0-9 and a reader reads as digits.
_DIGIT = r"[\d\u00b2\u00b3\u00b9\u2070\u2074-\u2079\u2080-\u2089]"
# Spacing someone may put between digits, visible or not (Zs and line breaks via `\s`; format characters).
_GAP = (
    r"[\s\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e"
    r"\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]{0,3}"
)
_DASH = r"[-\u2010-\u2015\u2212\ufe58\ufe63\uff0d]"
_BODY = (_DIGIT + _GAP) * 6 + f"(?:{_DASH}{_GAP})?" + (_DIGIT + _GAP) * 3 + _DIGIT
# A lookahead, so every start is tried (a spaced run of twelve digits holds two candidate windows); bounded
# by anything but a letter or digit of any script (`[^\W_]`).
_CANDIDATE = re.compile(rf"(?<![^\W_])(?=({_BODY})(?![^\W_]))")
_PLAIN = re.compile(r"[0-9]{6}-?[0-9]{4}")
_ANY_DIGIT = re.compile(_DIGIT)
# ASCII text without whitespace (ids, hashes, timestamps, routes: most of a log line) holds no other
# script's digit, gap or dash, so there `_CANDIDATE` reduces to a plain number between non-alphanumerics,
# which `_PLAIN` always accepts; that form is searched in a tenth of the time.
_ASCII_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])(?=([0-9]{6}-?[0-9]{4})(?![A-Za-z0-9]))")


def _is_date(digits: list[int]) -> bool:
    day, month, yy = digits[0] * 10 + digits[1], digits[2] * 10 + digits[3], digits[4] * 10 + digits[5]
    # 2000 + yy is a leap year exactly when 1900 + yy or 1800 + yy might be: the lenient calendar.
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(2000 + yy, month)[1]


def cpr_spans(text: str) -> Iterator[tuple[int, int]]:
    """The (start, end) of each CPR-shaped number in `text`, in order; overlapping spans may both appear."""
    if len(text) < 10 or _ANY_DIGIT.search(text) is None:
        return
    if text.isascii() and text.isprintable() and " " not in text:  # no ASCII whitespace
        if _PLAIN.search(text) is not None:
            for match in _ASCII_CANDIDATE.finditer(text):
                yield match.start(1), match.end(1)
        return
    for match in _CANDIDATE.finditer(text):
        found = match.group(1)
        if _PLAIN.fullmatch(found) or _is_date(
            [unicodedata.digit(c) for c in found if unicodedata.digit(c, None) is not None]
        ):
            yield match.start(1), match.end(1)


def contains_cpr(text: str) -> bool:
    """Whether `text` holds a CPR-shaped number (module docstring)."""
    return next(cpr_spans(text), None) is not None


def redact_cpr(text: str, replacement: str) -> str:
    """`text` with every CPR-shaped number replaced by `replacement` (overlapping ones once)."""
    merged: list[list[int]] = []
    for start, end in cpr_spans(text):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    if not merged:
        return text
    out, at = [], 0
    for start, end in merged:
        out += [text[at:start], replacement]
        at = end
    out.append(text[at:])
    return "".join(out)
