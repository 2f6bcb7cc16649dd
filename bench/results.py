"""What a section of the benchmark reports: its measurements, the raw limits beside them, the ratios
against the issue's targets, or why it could not run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bench.loadgen import Measurement


@dataclass
class Ratio:
    name: str
    value: float | None
    target: float
    comparison: str  # ">=", "<=" or "<"
    informational: bool = False  # a stand-in figure, not the target's own measurement

    @property
    def met(self) -> bool | None:
        if self.value is None or self.informational:
            return None
        if self.comparison == ">=":
            return self.value >= self.target
        return self.value < self.target if self.comparison == "<" else self.value <= self.target

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


@dataclass
class Section:
    key: str
    title: str
    status: str = "ok"  # ok | not available | failed
    reason: str | None = None
    measurements: list[Measurement] = field(default_factory=list)
    limits: list[Measurement] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def unavailable(self, reason: str) -> Section:
        self.status, self.reason = "not available", reason
        return self

    def failed(self, reason: str) -> Section:
        self.status, self.reason = "failed", reason
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
            "measurements": [m.as_dict() for m in self.measurements],
            "limits": [m.as_dict() for m in self.limits],
            "ratios": [r.as_dict() for r in self.ratios],
            "notes": self.notes,
        }


def ratio(
    name: str,
    numerator: Measurement | None,
    denominator: Measurement | None,
    attr: str,
    target: float,
    comparison: str,
    *,
    informational: bool = False,
) -> Ratio:
    value = None
    if numerator is not None and denominator is not None:
        top, bottom = getattr(numerator, attr), getattr(denominator, attr)
        if bottom and bottom == bottom and top == top:  # neither zero nor NaN
            value = top / bottom
    return Ratio(name, value, target, comparison, informational)


def bound(name: str, measurement: Measurement | None, attr: str, target: float, comparison: str) -> Ratio:
    """A target on a measurement's own figure (a p99 under a bound), reported beside the ratios."""
    value = None
    if measurement is not None:
        figure = getattr(measurement, attr)
        value = figure if figure == figure else None  # NaN: no figure
    return Ratio(name, value, target, comparison)
