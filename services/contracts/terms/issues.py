"""An `Issue`: one rule a terms document breaks, at its dotted path, for the API's `invalid_params`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    """One rule a terms document breaks, at a dotted path into the document."""

    path: str
    reason: str
