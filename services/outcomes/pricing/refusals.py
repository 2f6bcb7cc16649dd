"""Why the engine will not price a claim: the one exception the mechanisms raise, with a reason a
provider can act on and the path of the claim field at fault."""

from __future__ import annotations


class Refused(Exception):
    """The claim cannot be priced under these terms; `path` names the claim field (`facts.hours_per_week`)."""

    def __init__(self, reason: str, *, path: str = "outcome_code") -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path
