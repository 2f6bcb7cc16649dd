"""When an outcome may be achieved (its window) and what it requires first (its prerequisites, which
must name outcomes of the contract and never form a cycle); the same in every schema version."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Literal

from pydantic import Field

from services.contracts.terms.issues import Issue
from services.contracts.terms.names import OutcomeCode
from services.contracts.terms.strict import Strict


class Window(Strict):
    """When an outcome may be achieved: `anchor_date + opens_after_days <= d <= anchor_date +
    closes_after_days`, anchored on enrolment or on the participant's verified `anchor_outcome` (for
    an outcome that recurs, its latest qualifying achievement)."""

    anchor: Literal["enrolment", "outcome"] = "enrolment"
    anchor_outcome: OutcomeCode | None = None
    opens_after_days: int = Field(0, ge=0, le=36500)
    closes_after_days: int = Field(ge=0, le=36500)


def duplicate_code_issues(codes: Sequence[str]) -> tuple[dict[str, int], list[Issue]]:
    """Each code's first index, and an issue for every repeat."""
    first: dict[str, int] = {}
    issues = []
    for i, code in enumerate(codes):
        if code in first:
            issues.append(Issue(f"outcomes.{i}.code", f"duplicate outcome code {code!r}"))
        first.setdefault(code, i)
    return first, issues


def sequencing_issues(
    i: int, code: str, prerequisites: Sequence[str], window: Window, codes: Mapping[str, int]
) -> Iterator[Issue]:
    """The rules between one outcome's prerequisites and window and the contract's outcome codes."""
    for j, required in enumerate(prerequisites):
        if required not in codes:
            yield Issue(f"outcomes.{i}.prerequisites.{j}", f"no outcome has the code {required!r}")
        elif required == code:
            yield Issue(f"outcomes.{i}.prerequisites.{j}", "an outcome cannot require itself")
    if window.closes_after_days < window.opens_after_days:
        yield Issue(f"outcomes.{i}.window.closes_after_days", "must not be before opens_after_days")
    if window.anchor == "enrolment" and window.anchor_outcome is not None:
        yield Issue(f"outcomes.{i}.window.anchor_outcome", "must be null when the anchor is enrolment")
    if window.anchor == "outcome":
        if window.anchor_outcome is None:
            yield Issue(f"outcomes.{i}.window.anchor_outcome", "name the outcome the window counts from")
        elif window.anchor_outcome not in prerequisites:
            yield Issue(f"outcomes.{i}.window.anchor_outcome", "must also be one of the prerequisites")


def cycle_issues(
    requirements: Sequence[tuple[str, Sequence[str]]], codes: Mapping[str, int]
) -> Iterator[Issue]:
    """An issue for a cycle among the prerequisites (`(code, prerequisites)` per outcome)."""
    requires = {code: [p for p in pre if p in codes and p != code] for code, pre in requirements}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(code: str, path: list[str]) -> list[str] | None:
        state[code] = 1
        for nxt in requires[code]:
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt] if nxt in path else [code, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[code] = 2
        return None

    for code in requires:
        if code not in state and (cycle := visit(code, [code])):
            yield Issue(
                f"outcomes.{codes[cycle[0]]}.prerequisites",
                "prerequisites form a cycle: " + " -> ".join(cycle),
            )
