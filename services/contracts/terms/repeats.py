"""Repeatability and restarts: how often one participant may achieve an outcome (once by default), whether
a start can happen again (a new job, a new tenancy: windows anchored on it then count from the latest
qualifying start), and which outcomes end a start (lost the job), so a later sustainment is counted from
a new start rather than the ended one."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from pydantic import Field

from services.contracts.terms.issues import Issue
from services.contracts.terms.strict import Strict


class Repeat(Strict):
    max_per_participant: int = Field(1, ge=1, le=1000, description="Achievements paid per participant")
    recurs: bool = Field(False, description="A start that can happen again; windows anchor on the latest")


def ending_issues(i: int, code: str, ended_by: Sequence[str], codes: Mapping[str, int]) -> Iterator[Issue]:
    seen: set[str] = set()
    for j, ender in enumerate(ended_by):
        at = f"outcomes.{i}.ended_by.{j}"
        if ender not in codes:
            yield Issue(at, f"no outcome has the code {ender!r}")
        elif ender == code:
            yield Issue(at, "an outcome cannot end itself")
        if ender in seen:
            yield Issue(at, "each outcome once")
        seen.add(ender)
