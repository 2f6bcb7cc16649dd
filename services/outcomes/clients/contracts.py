"""A tolerant reader of the contract registry: the version in force on a date, and versions by id.

Only the fields pricing and claim checks use are read; unknown fields are ignored, so the registry may
grow. Schema versions 1 and 2 are both read, and both mapped onto the pricing engine's value types
(`Terms.engine`, `Terms.engine_outcome`). The caller's token is forwarded, so the registry applies its
own authorisation. Versions are immutable once proposed, so they are cached by id for the life of the
process.

The registry's answer to "which version is in force on this date" is cached for `in_force_ttl` seconds
(default 5), per caller token, contract and date; concurrent misses share one registry call. It changes
only when a version is activated or the contract terminated, so a write checks against an answer at most
that old: a version activated (or a termination recorded) less than `in_force_ttl` seconds ago may not be
seen yet, as if the write had reached the registry that much earlier. Only found versions are cached; a
"none in force" answer is asked again every time. Keying by token keeps the registry's authorisation
per caller: another token, or the same caller's next token, asks the registry itself.

A partnership's small-cell threshold (`GET /v1/partnerships/{id}/disclosure`, set by its outcome payers)
and its layout (every contract that was ever in force, with its outcome codes, dates, currency and cap:
the cells the aggregates publish whatever the data) are cached the same way, for `in_force_ttl` seconds
per caller token and partnership: a changed threshold reaches the aggregates within that time. A reader
the registry refuses them to gets no aggregates under the rule (403).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal
from uuid import UUID

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kit.problems import Forbidden, Unauthorized
from services.outcomes import pricing
from services.outcomes.errors import ContractsUnavailable, NoVersionInForce
from services.outcomes.pricing import audits as audits_
from services.outcomes.pricing import cohorts as cohorts_
from services.outcomes.pricing import indexation as indexation_
from services.outcomes.pricing.facts import normalise


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Window(_Tolerant):
    anchor: Literal["enrolment", "outcome"] = "enrolment"
    anchor_outcome: str | None = None
    opens_after_days: int = 0
    closes_after_days: int | None = None


class BySegment(_Tolerant):
    by_segment: dict[str, Decimal]


Price = Decimal | BySegment  # a Money string, or one per segment (schema version 2)


def _tariff(price: Price) -> pricing.Tariff:
    return price if isinstance(price, Decimal) else pricing.BySegment(dict(price.by_segment))


def _nominal(price: Price) -> Decimal:
    """One amount for aggregates that value pending claims: a segment table's highest price."""
    return price if isinstance(price, Decimal) else max(price.by_segment.values())


class Tier(_Tolerant):
    up_to: int | None
    tariff: Price


class Band(_Tolerant):
    code: str
    lower: Decimal = Field(alias="from")
    upper: Decimal | None = Field(default=None, alias="to")
    tariff: Price | None = None
    tiers: list[Tier] | None = None


class Bands(_Tolerant):
    fact: str
    bands: list[Band]


class Criterion(_Tolerant):
    fact: str
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in"]
    # JSON's own types, typed by the declared fact in `_value`: with `Decimal` in the union, pydantic's JSON
    # mode read a choice's `"2"` as Decimal 2, which no reported choice ever equals.
    value: bool | int | str | list[bool | int | str]


class Repeat(_Tolerant):
    max_per_participant: int | None = 1
    recurs: bool = False


class OutcomeCap(_Tolerant):
    count: int | None = None
    amount: Decimal | None = None


class PayerTariff(_Tolerant):
    organisation_id: UUID
    tariff: Price


def _tiers(tiers: list[Tier]) -> tuple[pricing.Tier, ...]:
    return tuple(pricing.Tier(t.up_to, _tariff(t.tariff)) for t in tiers)


def _value(value: bool | int | str, spec: pricing.FactSpec | None) -> pricing.FactValue:
    """A criterion's value as the fact's declared type, so `"16"` compares with a decimal fact as 16."""
    if spec is None:
        return value
    try:
        return normalise(spec, value)
    except pricing.Refused:
        return value  # the registry refuses such terms; compared as given, it never matches


class Outcome(_Tolerant):
    code: str
    name: str = ""
    verifier_roles: list[str] = Field(default_factory=list)
    tariff: Price | None = None
    tiers: list[Tier] | None = None
    bands: Bands | None = None
    max_per_participant: int | None = None  # version 1; version 2 says `repeat`
    repeat: Repeat | None = None
    ended_by: list[str] = Field(default_factory=list)
    prerequisites: list[str] = Field(default_factory=list)
    window: Window | None = None
    criteria: list[Criterion] = Field(default_factory=list)
    cap: OutcomeCap | None = None
    payer_tariffs: list[PayerTariff] = Field(default_factory=list)

    def rule(self) -> pricing.Rule:
        """The outcome's price rule; the registry validated that exactly one of the three is given."""
        if self.bands is not None:
            return pricing.Bands(
                self.bands.fact,
                tuple(
                    pricing.Band(
                        b.code,
                        b.lower,
                        b.upper,
                        _tiers(b.tiers) if b.tiers is not None else _tariff(b.tariff or Decimal(0)),
                    )
                    for b in self.bands.bands
                ),
            )
        if self.tiers is not None:
            return pricing.Tiered(_tiers(self.tiers))
        if self.tariff is None:
            raise ValueError(f"outcome {self.code} has no price")
        return pricing.Flat(_tariff(self.tariff))

    def repeats(self, schema_version: int) -> pricing.Repeat:
        """Version 1: no limit unless `max_per_participant`; version 2: once unless `repeat` says more."""
        if self.repeat is not None:
            return pricing.Repeat(self.repeat.max_per_participant, self.repeat.recurs)
        if schema_version == 1:
            return pricing.Repeat(self.max_per_participant)
        return pricing.Repeat(1)

    def engine(
        self, schema_version: int = 1, facts: Mapping[str, pricing.FactSpec] | None = None
    ) -> pricing.Outcome:
        cap, specs = self.cap or OutcomeCap(), facts or {}
        return pricing.Outcome(
            code=self.code,
            rule=self.rule(),
            criteria=tuple(
                pricing.Criterion(
                    c.fact,
                    c.op,
                    tuple(_value(v, specs.get(c.fact)) for v in c.value)
                    if isinstance(c.value, list)
                    else _value(c.value, specs.get(c.fact)),
                )
                for c in self.criteria
            ),
            cap=pricing.OutcomeCap(cap.count, cap.amount),
            payer_tariffs=tuple((p.organisation_id, _tariff(p.tariff)) for p in self.payer_tariffs),
            repeat=self.repeats(schema_version),
        )

    def nominal_tariff(self) -> Decimal:
        """A representative price for valuing pending claims: the tariff, the first tier or band's."""
        if self.tariff is not None:
            return _nominal(self.tariff)
        if self.tiers:
            return _nominal(self.tiers[0].tariff)
        if self.bands is not None and self.bands.bands:
            band = self.bands.bands[0]
            if band.tariff is not None:
                return _nominal(band.tariff)
            if band.tiers:
                return _nominal(band.tiers[0].tariff)
        return Decimal(0)


class PayerCap(_Tolerant):
    organisation_id: UUID
    amount: Decimal


class Caps(_Tolerant):
    per_participant: Decimal | None = None
    contract_total: Decimal | None = None
    per_period: Decimal | None = None
    per_payer: list[PayerCap] = Field(default_factory=list)


class Share(_Tolerant):
    organisation_id: UUID
    percent: Decimal


class ResidenceMunicipality(_Tolerant):
    organisation_id: UUID
    municipality_code: str


class PayerSplit(_Tolerant):
    method: Literal["fixed", "residence", "mixed"]
    shares: list[Share] = Field(default_factory=list)
    municipalities: list[ResidenceMunicipality] = Field(default_factory=list)
    fixed: list[Share] = Field(default_factory=list)  # mixed: these pay their fixed shares
    rest: PayerSplit | None = None  # mixed: how the rest is split

    def engine(self) -> pricing.Split:
        if self.method == "fixed":
            return pricing.FixedSplit(tuple(pricing.Share(s.organisation_id, s.percent) for s in self.shares))
        if self.method == "residence":
            return pricing.ResidenceSplit(
                tuple((m.organisation_id, m.municipality_code) for m in self.municipalities)
            )
        rest = (self.rest or PayerSplit(method="fixed")).engine()
        if isinstance(rest, pricing.MixedSplit):
            raise ValueError("a mixed split's rest is fixed or by residence")
        return pricing.MixedSplit(
            tuple(pricing.Share(s.organisation_id, s.percent) for s in self.fixed), rest
        )


class Fact(_Tolerant):
    name: str
    type: Literal["decimal", "integer", "boolean", "choice"]
    unit: str = ""
    measure: Literal["continuous", "cumulative"] | None = None
    choices: list[str] = Field(default_factory=list)


class Segments(_Tolerant):
    name: str
    values: list[str]


class Party(_Tolerant):
    organisation_id: UUID
    role: str


class TranchePayment(_Tolerant):
    due_date: date
    amount: Decimal


class Tranche(_Tolerant):
    code: str
    kind: Literal["fixed", "guaranteed"]
    payer_organisation_id: UUID
    payments: list[TranchePayment]

    def engine(self) -> pricing.Tranche:
        return pricing.Tranche(
            self.code,
            pricing.TrancheKind(self.kind),
            self.payer_organisation_id,
            tuple((p.due_date, p.amount) for p in self.payments),
        )


class IndexStep(_Tolerant):
    from_: date = Field(alias="from")
    percent: Decimal | None = None
    index: Decimal | None = None


class Indexation(_Tolerant):
    base_index: Decimal | None = None
    steps: list[IndexStep] = Field(default_factory=list)

    def engine(self) -> pricing.Indexation:
        return pricing.Indexation(
            indexation_.steps_of([(s.from_, s.percent, s.index) for s in self.steps]), self.base_index
        )


class ScenarioPayment(_Tolerant):
    payer_organisation_id: UUID
    monthly_amount: Decimal


class Variation(_Tolerant):
    code: str
    scenario: str
    from_: date = Field(alias="from")
    to: date
    payments: list[ScenarioPayment]

    def engine(self) -> pricing.Variation:
        return pricing.Variation(
            self.code,
            self.scenario,
            self.from_,
            self.to,
            tuple((p.payer_organisation_id, p.monthly_amount) for p in self.payments),
        )


class AuditRule(_Tolerant):
    payer_organisation_id: UUID
    sample_size: int | None = None
    sample_percent: Decimal | None = None
    extrapolation: Literal["none", "by_value"] = "none"
    threshold_percent: Decimal | None = None
    extrapolation_cap: Decimal | None = None

    def engine(self) -> audits_.Rule:
        return audits_.Rule(
            self.sample_size,
            self.sample_percent,
            self.extrapolation,
            self.threshold_percent,
            self.extrapolation_cap,
        )


class CohortMeasure(_Tolerant):
    code: str
    better: Literal["lower", "higher"]


class CohortHorizon(_Tolerant):
    start: date
    end: date


class CohortOutcome(_Tolerant):
    code: str
    payer_organisation_id: UUID
    comparison: str
    measures: list[CohortMeasure]
    share_percent: Decimal
    horizon: CohortHorizon
    max_cohort_size: int
    cap: Decimal
    may_be_negative: bool = False

    def engine(self) -> cohorts_.Formula:
        return cohorts_.Formula(
            self.code,
            self.payer_organisation_id,
            tuple(cohorts_.Measure(m.code, cohorts_.Better(m.better)) for m in self.measures),
            self.share_percent,
            self.cap,
            self.may_be_negative,
        )


class Terms(_Tolerant):
    schema_version: int = 1
    currency: str = "DKK"
    start_date: date
    end_date: date
    max_participants: int | None = None
    payment_period: str = "quarterly"
    statement_basis: Literal["verification", "achievement"] = "verification"
    parties: list[Party] = Field(default_factory=list)
    facts: list[Fact] = Field(default_factory=list)
    segments: Segments | None = None
    outcomes: list[Outcome]
    caps: Caps = Caps()
    payer_split: PayerSplit
    tranches: list[Tranche] = Field(default_factory=list)  # schema version 2
    indexation: Indexation | None = None  # schema version 2
    variations: list[Variation] = Field(default_factory=list)  # schema version 2
    audits: list[AuditRule] = Field(default_factory=list)  # schema version 2
    cohort_outcomes: list[CohortOutcome] = Field(default_factory=list)  # schema version 2

    def outcome(self, code: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.code == code), None)

    def payer_ids(self) -> list[UUID]:
        """Every organisation the terms may charge: the split's payers, then those with only a price of
        their own for an outcome (a fund topping up one outcome has statements too)."""
        found = pricing.payers_of(self.payer_split.engine())
        own = [p.organisation_id for o in self.outcomes for p in o.payer_tariffs]
        return list(dict.fromkeys([*found, *own]))

    def statement_payers(self) -> list[UUID]:
        """Who a statement may be for: the split's payers, each tranche's, variation's and cohort's."""
        found = self.payer_ids()
        others = [t.payer_organisation_id for t in self.tranches]
        others += [p.payer_organisation_id for v in self.variations for p in v.payments]
        others += [c.payer_organisation_id for c in self.cohort_outcomes]
        return found + [p for p in dict.fromkeys(others) if p not in found]

    def engine_outcome(self, code: str) -> pricing.Outcome | None:
        """The outcome as the pricing engine reads it, criteria typed by the declared facts."""
        outcomes = _engines(self)[1]
        if code not in outcomes:
            outcome = self.outcome(code)
            if outcome is None:
                return None
            outcomes[code] = outcome.engine(self.schema_version, {f.name: f for f in self.engine().facts})
        return outcomes[code]

    def engine(self) -> pricing.Contract:
        """The contract-level terms as the pricing engine reads them (version 1 and 2 alike)."""
        return _engines(self)[0]

    def _engine(self) -> pricing.Contract:
        return pricing.Contract(
            currency=self.currency,
            split=self.payer_split.engine(),
            caps=pricing.Caps(
                per_participant=self.caps.per_participant,
                contract_total=self.caps.contract_total,
                per_period=self.caps.per_period,
                per_payer={p.organisation_id: p.amount for p in self.caps.per_payer},
            ),
            facts=tuple(
                pricing.FactSpec(f.name, f.type, tuple(f.choices), f.unit, f.measure) for f in self.facts
            ),
            indexation=self.indexation.engine() if self.indexation is not None else pricing.Indexation(),
            variations=tuple(v.engine() for v in self.variations),
        )


# Terms are frozen, and a version's are cached for the process's life: their engine forms are built once
# per Terms object (a bulk file's claims asked for them three times a line), kept while the object lives.
# Keyed by identity, not by value: frozen models with list fields do not hash.
_ENGINES: dict[int, tuple[weakref.ref[Terms], pricing.Contract, dict[str, pricing.Outcome]]] = {}


def _engines(terms: Terms) -> tuple[pricing.Contract, dict[str, pricing.Outcome]]:
    key = id(terms)
    known = _ENGINES.get(key)
    if known is None or known[0]() is not terms:
        alive = weakref.ref(terms, lambda _: _ENGINES.pop(key, None))
        known = _ENGINES[key] = (alive, terms._engine(), {})
    return known[1], known[2]


class ContractVersion(_Tolerant):
    id: UUID
    contract_id: UUID
    partnership_id: UUID
    number: int
    status: str
    terms: Terms


InForceKey = tuple[str, UUID, date]  # caller's token, contract, date
ThresholdKey = tuple[str, UUID]  # caller's token, partnership


class _Disclosure(_Tolerant):
    small_cell_threshold: int = Field(ge=3)


class _VersionSummary(_Tolerant):
    id: UUID
    status: str


class _Contract(_Tolerant):
    id: UUID
    versions: list[_VersionSummary]


class _ContractPage(_Tolerant):
    items: list[_Contract]
    next_cursor: str | None = None


EVER_IN_FORCE = frozenset({"active", "superseded", "terminated", "expired"})


@dataclass(frozen=True, slots=True)
class ContractCells:
    """What of one contract the small-cell rule publishes cells for, from its terms alone."""

    codes: frozenset[str]  # every outcome code of every version that was in force
    start: date
    end: date
    currency: str
    cap: Decimal | None  # the latest version's contract_total


@dataclass(frozen=True, slots=True)
class CellLayout:
    threshold: int
    contracts: Mapping[UUID, ContractCells]


class ContractsClient:
    """One per process, sharing a connection pool."""

    def __init__(
        self, base_url: str, *, timeout: float = 10.0, cache_size: int = 512, in_force_ttl: float = 5.0
    ) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout)
        self._cache: OrderedDict[UUID, ContractVersion] = OrderedDict()
        self._cache_size = cache_size
        self._in_force_ttl = in_force_ttl
        self._in_force: OrderedDict[InForceKey, tuple[float, ContractVersion]] = OrderedDict()
        self._asking: dict[InForceKey, asyncio.Future[ContractVersion]] = {}  # registry calls under way
        self._thresholds: OrderedDict[ThresholdKey, tuple[float, int]] = OrderedDict()
        self._layouts: OrderedDict[ThresholdKey, tuple[float, CellLayout]] = OrderedDict()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def version_in_force(self, contract_id: UUID, on: date, *, token: str) -> ContractVersion:
        """The version governing `on`; `NoVersionInForce` when the registry has none (or hides it)."""
        key = (token, contract_id, on)
        known = self._in_force.get(key)
        if known is not None and time.monotonic() - known[0] < self._in_force_ttl:
            return known[1]
        asking = self._asking.get(key)
        if asking is None:
            # Its own task: a caller that goes away does not cancel the answer the others wait for.
            asking = self._asking[key] = asyncio.ensure_future(self._ask_in_force(key))
            asking.add_done_callback(lambda done: self._asked(key, done))
        return await asyncio.shield(asking)

    def _asked(self, key: InForceKey, done: asyncio.Future[ContractVersion]) -> None:
        del self._asking[key]
        if done.cancelled() or done.exception() is not None:
            return
        if self._in_force_ttl > 0:
            self._in_force[key] = (time.monotonic(), done.result())
            self._in_force.move_to_end(key)
            while len(self._in_force) > self._cache_size:
                self._in_force.popitem(last=False)

    async def _ask_in_force(self, key: InForceKey) -> ContractVersion:
        token, contract_id, on = key
        response = await self._get(
            f"/v1/contracts/{contract_id}/versions/in-force", token, params={"on": on.isoformat()}
        )
        if response.status_code == 404:
            raise NoVersionInForce.field(
                "contract_id", f"no version of contract {contract_id} is in force on {on.isoformat()}"
            )
        version = self._parse(response)
        self._remember(version)
        return version

    async def small_cell_threshold(self, partnership_id: UUID, *, token: str) -> int:
        """The partnership's small-cell threshold (kit/cells.py), as its outcome payers set it."""
        key = (token, partnership_id)
        known = self._thresholds.get(key)
        if known is not None and time.monotonic() - known[0] < self._in_force_ttl:
            return known[1]
        response = await self._get(f"/v1/partnerships/{partnership_id}/disclosure", token)
        if response.status_code == 404:
            raise Forbidden("the contract registry does not show you this partnership's disclosure")
        if response.status_code != 200:
            raise ContractsUnavailable(f"the contract registry answered {response.status_code}")
        try:
            threshold = _Disclosure.model_validate_json(response.content).small_cell_threshold
        except ValidationError as exc:
            raise ContractsUnavailable(
                "the contract registry sent a disclosure this service cannot read"
            ) from exc
        if self._in_force_ttl > 0:
            self._thresholds[key] = (time.monotonic(), threshold)
            self._thresholds.move_to_end(key)
            while len(self._thresholds) > self._cache_size:
                self._thresholds.popitem(last=False)
        return threshold

    async def small_cell_layout(self, partnership_id: UUID, *, token: str) -> CellLayout:
        """The threshold and the partnership's contracts as the small-cell rule lays out its cells."""
        key = (token, partnership_id)
        known = self._layouts.get(key)
        if known is not None and time.monotonic() - known[0] < self._in_force_ttl:
            return known[1]
        threshold = await self.small_cell_threshold(partnership_id, token=token)
        contracts: dict[UUID, ContractCells] = {}
        cursor: str | None = None
        while True:
            params = {"partnership_id": str(partnership_id), "limit": "100"}
            if cursor is not None:
                params["cursor"] = cursor
            response = await self._get("/v1/contracts", token, params=params)
            if response.status_code != 200:
                raise ContractsUnavailable(f"the contract registry answered {response.status_code}")
            try:
                page = _ContractPage.model_validate_json(response.content)
            except ValidationError as exc:
                raise ContractsUnavailable("the registry sent contracts this service cannot read") from exc
            for contract in page.items:
                versions = [
                    await self.version(v.id, token=token)
                    for v in contract.versions
                    if v.status in EVER_IN_FORCE
                ]
                if versions:
                    latest = max(versions, key=lambda v: v.number)
                    contracts[contract.id] = ContractCells(
                        codes=frozenset(o.code for v in versions for o in v.terms.outcomes),
                        start=min(v.terms.start_date for v in versions),
                        end=max(v.terms.end_date for v in versions),
                        currency=latest.terms.currency,
                        cap=latest.terms.caps.contract_total,
                    )
            cursor = page.next_cursor
            if cursor is None:
                break
        layout = CellLayout(threshold, contracts)
        if self._in_force_ttl > 0:
            self._layouts[key] = (time.monotonic(), layout)
            self._layouts.move_to_end(key)
            while len(self._layouts) > self._cache_size:
                self._layouts.popitem(last=False)
        return layout

    async def version(self, version_id: UUID, *, token: str) -> ContractVersion:
        cached = self._cache.get(version_id)
        if cached is not None:
            self._cache.move_to_end(version_id)
            return cached
        response = await self._get(f"/v1/contract-versions/{version_id}", token)
        if response.status_code == 404:
            raise NoVersionInForce(f"contract version {version_id} does not exist")
        version = self._parse(response)
        self._remember(version)
        return version

    async def logged_version(self, version_id: UUID, *, token: str) -> ContractVersion:
        """A version the registry's change log names, read with the service's own platform token (the
        registry lets its event readers read those versions' terms, and nothing else of a contract)."""
        cached = self._cache.get(version_id)
        if cached is not None:
            self._cache.move_to_end(version_id)
            return cached
        response = await self._get(f"/v1/contract-events/versions/{version_id}", token)
        if response.status_code == 404:
            raise NoVersionInForce(f"the registry's change log names no contract version {version_id}")
        version = self._parse(response)
        self._remember(version)
        return version

    def _remember(self, version: ContractVersion) -> None:
        self._cache[version.id] = version
        self._cache.move_to_end(version.id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def _get(self, path: str, token: str, params: dict[str, str] | None = None) -> httpx.Response:
        try:
            response = await self._http.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise ContractsUnavailable(f"the contract registry did not answer: {type(exc).__name__}") from exc
        if response.status_code == 401:
            raise Unauthorized("the contract registry refused the token")
        if response.status_code == 403:
            raise Forbidden("the contract registry does not let you read this contract")
        if response.status_code >= 500:
            raise ContractsUnavailable(f"the contract registry answered {response.status_code}")
        return response

    @staticmethod
    def _parse(response: httpx.Response) -> ContractVersion:
        if response.status_code != 200:
            raise ContractsUnavailable(f"the contract registry answered {response.status_code}")
        try:
            return ContractVersion.model_validate_json(response.content)
        except ValidationError as exc:
            raise ContractsUnavailable("the contract registry sent terms this service cannot read") from exc
