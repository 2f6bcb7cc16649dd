"""Repeatability and restarts: how often one participant may achieve an outcome, and which start a
sustainment outcome counts from.

Each outcome is achieved once per participant unless the terms say more (version 1: no limit unless
`max_per_participant`). A start that `recurs` (a new job, a new tenancy) may happen again; an event named
in the start's `ended_by` (lost the job, abandoned the tenancy) ends it, so a sustainment is anchored on
the latest start that had not ended before the sustainment was achieved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from services.outcomes.pricing.refusals import Refused


@dataclass(frozen=True, slots=True)
class Repeat:
    max_per_participant: int | None = None  # None: no limit
    recurs: bool = False


def check_repeat(repeat: Repeat, code: str, live: int) -> None:
    """`Refused` when the participant already holds as many live claims of the outcome as it may."""
    limit = repeat.max_per_participant
    if limit is not None and live >= limit:
        raise Refused(f"at most {limit} `{code}` per participant", path="outcome_code")


def anchor(starts: Sequence[date], ends: Sequence[date], achieved: date) -> date | None:
    """The latest start on or before `achieved` that no end event between it and `achieved` closed."""
    earlier = [s for s in starts if s <= achieved]
    if not earlier:
        return None
    latest = max(earlier)
    if any(latest <= e < achieved for e in ends):
        return None
    return latest
