"""The pricing engine: pure and exact. Value types in (the claim's facts and segment, the outcome's rule,
the tier count, the room at every cap, the payers), a `Price` with every cut named and its working out.

Invariants: amounts are `Decimal`s quantised to the currency's minor unit; a cut is returned with its
reason, never dropped; a split sums to the amount to the minor unit (largest remainder). No I/O, no import
of the service: locks and counters stay in the caller. One module per mechanism, each dispatch exhaustive.
"""

from services.outcomes.pricing.adjustments import Adjustment, Step, adjustments, replay
from services.outcomes.pricing.bands import Band, Bands
from services.outcomes.pricing.book import Book
from services.outcomes.pricing.caps import (
    Caps,
    CapUsage,
    Cut,
    Line,
    OutcomeCap,
    Price,
    Working,
    price_claim,
)
from services.outcomes.pricing.criteria import Criterion
from services.outcomes.pricing.engine import Claim, Classified, Contract, Outcome, classify, price
from services.outcomes.pricing.facts import DecimalMark, FactSpec, FactValue, read_text_facts
from services.outcomes.pricing.indexation import Indexation, IndexStep, PercentStep
from services.outcomes.pricing.money import ZERO, minor_unit, quantise, supported
from services.outcomes.pricing.payers import (
    FixedSplit,
    MixedSplit,
    ResidenceSplit,
    Share,
    Split,
    SplitLine,
    payers_for,
    payers_of,
    split_fixed,
    split_residence,
)
from services.outcomes.pricing.refusals import Refused
from services.outcomes.pricing.repeat import Repeat, anchor, check_repeat
from services.outcomes.pricing.segments import BySegment, Tariff
from services.outcomes.pricing.tariffs import Flat, Rule, Tiered
from services.outcomes.pricing.tiers import Tier
from services.outcomes.pricing.tranches import Tranche, TrancheDue, TrancheKind
from services.outcomes.pricing.variations import ScenarioDue, Variation

__all__ = [
    "ZERO",
    "Adjustment",
    "Band",
    "Bands",
    "Book",
    "BySegment",
    "CapUsage",
    "Caps",
    "Claim",
    "Classified",
    "Contract",
    "Criterion",
    "Cut",
    "DecimalMark",
    "FactSpec",
    "FactValue",
    "FixedSplit",
    "Flat",
    "IndexStep",
    "Indexation",
    "Line",
    "MixedSplit",
    "Outcome",
    "OutcomeCap",
    "PercentStep",
    "Price",
    "Refused",
    "Repeat",
    "ResidenceSplit",
    "Rule",
    "ScenarioDue",
    "Share",
    "Split",
    "SplitLine",
    "Step",
    "Tariff",
    "Tier",
    "Tiered",
    "Tranche",
    "TrancheDue",
    "TrancheKind",
    "Variation",
    "Working",
    "adjustments",
    "anchor",
    "check_repeat",
    "classify",
    "minor_unit",
    "payers_for",
    "payers_of",
    "price",
    "price_claim",
    "quantise",
    "read_text_facts",
    "replay",
    "split_fixed",
    "split_residence",
    "supported",
]
