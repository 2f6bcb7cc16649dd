"""Contract terms, schema version 1 (docs/contract-terms.md): the pydantic shape, the rules between its
fields, the canonical form and its content hash, and a structured diff.

Pure logic, no I/O. Field-level rules (types, ranges, patterns) live on the models so FastAPI reports
them against the request; rules that relate fields to one another (money exact to the currency's minor
unit, prerequisites, windows, splits) live in `check_terms`, which names each offending field by its
dotted path so the API can return it in `invalid_params`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

import rfc8785
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

from kit.partners import MembershipRole
from kit.text import Text, Words

SCHEMA_VERSION = 1

# ISO 4217 minor units for the currencies a partnership plausibly contracts in. A currency not listed is
# refused rather than guessed: a wrong exponent would make every price in the contract wrong.
MINOR_UNITS: Mapping[str, int] = {
    "DKK": 2, "EUR": 2, "SEK": 2, "NOK": 2, "USD": 2, "GBP": 2, "CHF": 2, "PLN": 2, "CZK": 2,
    "HUF": 2, "RON": 2, "BGN": 2, "CAD": 2, "AUD": 2, "NZD": 2, "ZAR": 2, "INR": 2, "BRL": 2,
    "MXN": 2, "CNY": 2, "HKD": 2, "SGD": 2, "TRY": 2, "ILS": 2, "UAH": 2,
    "ISK": 0, "JPY": 0, "KRW": 0, "CLP": 0, "VND": 0, "UGX": 0, "XOF": 0, "XAF": 0,
    "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3,
}  # fmt: skip

# The outcome service stores every amount as NUMERIC(14, 2) (services/outcomes/models.py `Money`): two
# decimals, at most twelve digits before the point. An amount, or a sum of payments a contract allows, past
# that could be signed here and then never priced there, so the registry refuses it.
STORED_DECIMALS = 2
MAX_AMOUNT = Decimal("999999999999.99")

OutcomeCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="snake_case, stable")]


def _no_float(value: Any) -> Any:
    """JSON numbers with a fraction arrive as binary floats; money and shares must be decimal strings, of
    ASCII digits: `Decimal()` also reads "٢٥٠٠٠" and every other script's digits."""
    if isinstance(value, float):
        raise ValueError('give the amount as a decimal string, e.g. "25000.00", not a JSON number')
    if isinstance(value, str) and not value.isascii():
        raise ValueError("write the amount with ASCII digits 0-9")
    return value


# The JSON Schemas are written out: pydantic would document a Decimal as "number or string" and carry
# its constraints as keywords JSON Schema does not have (`ge`, `max_digits`), so generated clients sent
# numbers, which are refused.
Money = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False, max_digits=18),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]{1,12}(\.[0-9]{1,2})?$",
            "description": "A decimal string in the contract currency, exact to its minor unit, at most "
            "999999999999.99",
            "examples": ["25000.00"],
        }
    ),
]
Percent = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    Field(gt=0, le=100, max_digits=7, decimal_places=4, allow_inf_nan=False),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(100(\.0{1,4})?|[0-9]{1,2}(\.[0-9]{1,4})?)$",
            "description": "A decimal string above 0 and at most 100, with up to four decimals",
            "examples": ["60", "33.3333"],
        }
    ),
]


# Words a signatory reads as a heading or a condition: whitespace alone would sign an empty promise.
Wording = Words


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Party(_Strict):
    organisation_id: UUID
    role: MembershipRole = Field(description="The organisation's membership role in the partnership")
    must_sign: bool = True


class Window(_Strict):
    """When an outcome may be achieved: `anchor_date + opens_after_days <= d <= anchor_date +
    closes_after_days`, anchored on enrolment or on the participant's verified `anchor_outcome`."""

    anchor: Literal["enrolment", "outcome"] = "enrolment"
    anchor_outcome: OutcomeCode | None = None
    opens_after_days: int = Field(0, ge=0, le=36500)
    closes_after_days: int = Field(ge=0, le=36500)


class Outcome(_Strict):
    code: OutcomeCode
    name: Wording = Field(min_length=1, max_length=200)
    description: Text = Field("", max_length=4000)
    evidence_required: Text = Field("", max_length=4000)
    verifier_roles: list[MembershipRole] = Field(min_length=1)
    tariff: Money
    max_per_participant: int = Field(1, ge=1, le=1000)
    prerequisites: list[OutcomeCode] = Field(default_factory=list)
    window: Window


class Caps(_Strict):
    per_participant: Money | None = None
    contract_total: Money | None = None
    per_period: Money | None = None


class Share(_Strict):
    organisation_id: UUID
    percent: Percent


class FixedSplit(_Strict):
    method: Literal["fixed"]
    shares: list[Share] = Field(min_length=1)


class ResidenceMunicipality(_Strict):
    organisation_id: UUID
    municipality_code: str = Field(pattern=r"^[0-9]{3}$")


class ResidenceSplit(_Strict):
    method: Literal["residence"]
    municipalities: list[ResidenceMunicipality] = Field(min_length=1)


PayerSplit = Annotated[FixedSplit | ResidenceSplit, Field(discriminator="method")]


class Termination(_Strict):
    """Who may end the contract alone, and on how many days' notice. Without this block a contract ends
    only by agreement: every party that signed it consents to the same date."""

    unilateral_roles: list[MembershipRole] = Field(
        default_factory=list, max_length=6, description="Parties in these roles may terminate alone"
    )
    unilateral_organisations: list[UUID] = Field(
        default_factory=list, max_length=100, description="These parties may terminate alone"
    )
    notice_days: int = Field(ge=0, le=3650, description="A unilateral termination takes effect no earlier")


class Terms(_Strict):
    """A contract version's terms (schema version 1). Unknown keys are refused."""

    schema_version: Literal[1] = 1
    title: Wording = Field(min_length=1, max_length=300)
    start_date: date
    end_date: date
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")
    target_group: Text = Field("", max_length=4000)
    eligibility_criteria: list[Annotated[Wording, Field(min_length=1, max_length=1000)]] = Field(
        default_factory=list
    )
    # Bounded: more people than Denmark holds is a typo, and past 2^53 the RFC 8785 form cannot be hashed.
    max_participants: int | None = Field(None, ge=1, le=10_000_000)
    payment_period: Literal["monthly", "quarterly"]
    payment_terms_days: int = Field(ge=0, le=365)
    parties: list[Party] = Field(min_length=1)
    outcomes: list[Outcome] = Field(min_length=1)
    caps: Caps = Caps()
    payer_split: PayerSplit | None = None
    termination: Termination | None = None

    def party(self, organisation_id: UUID) -> Party | None:
        return next((p for p in self.parties if p.organisation_id == organisation_id), None)

    def outcome(self, code: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.code == code), None)

    def signing_parties(self) -> list[UUID]:
        return [p.organisation_id for p in self.parties if p.must_sign]

    def may_terminate_alone(self, organisation_id: UUID) -> bool:
        """Whether the terms grant this party unilateral termination (with `termination.notice_days`)."""
        party, grant = self.party(organisation_id), self.termination
        if party is None or not party.must_sign or grant is None:
            return False
        return organisation_id in grant.unilateral_organisations or party.role in grant.unilateral_roles


@dataclass(frozen=True, slots=True)
class Issue:
    """One rule a terms document breaks, at a dotted path into the document."""

    path: str
    reason: str


def check_terms(terms: Terms) -> list[Issue]:
    """Every cross-field rule `terms` breaks; empty when the document is coherent."""
    issues: list[Issue] = []
    if terms.end_date < terms.start_date:
        issues.append(Issue("end_date", "must not be before start_date"))
    issues.extend(_money_issues(terms))
    issues.extend(_party_issues(terms))
    issues.extend(_outcome_issues(terms))
    issues.extend(_split_issues(terms))
    issues.extend(_total_issues(terms))
    issues.extend(_termination_issues(terms))
    return issues


def proposal_issues(terms: Terms) -> list[Issue]:
    """Rules a version must meet before it can be proposed for signature, beyond `check_terms`."""
    roles = {p.role for p in terms.parties}
    issues = [
        Issue("parties", f"a proposal needs at least one `{role}` party")
        for role in ("outcome_payer", "provider")
        if role not in roles
    ]
    signing_roles = {p.role for p in terms.parties if p.must_sign}
    if not signing_roles:
        issues.append(Issue("parties", "at least one party must sign"))
    elif signing_roles <= {"adviser"}:
        issues.append(Issue("parties", "an adviser drafts, but its signature alone never binds the parties"))
    return issues


def _money_issues(terms: Terms) -> Iterator[Issue]:
    exponent = MINOR_UNITS.get(terms.currency)
    if exponent is None:
        yield Issue("currency", f"{terms.currency} is not a currency this registry knows the minor unit of")
        return
    amounts: list[tuple[str, Decimal | None]] = [
        (f"outcomes.{i}.tariff", o.tariff) for i, o in enumerate(terms.outcomes)
    ]
    amounts += [(f"caps.{name}", getattr(terms.caps, name)) for name in Caps.model_fields]
    if exponent > STORED_DECIMALS:
        yield Issue(
            "currency",
            f"{terms.currency} amounts have {exponent} decimals; the outcome service stores "
            f"{STORED_DECIMALS}, so no claim under this contract could be priced",
        )
    for path, amount in amounts:
        if amount is not None and amount != round(amount, exponent):
            unit = "whole units" if exponent == 0 else f"{exponent} decimal places"
            yield Issue(path, f"must be exact to {terms.currency}'s minor unit ({unit})")


# Parties who pay or are paid under the contract: never bound, nor billed, without their own signature.
ALWAYS_SIGN = frozenset({"outcome_payer", "provider"})


def _party_issues(terms: Terms) -> Iterator[Issue]:
    seen: set[UUID] = set()
    for i, party in enumerate(terms.parties):
        if party.organisation_id in seen:
            yield Issue(f"parties.{i}.organisation_id", "each organisation is a party once")
        seen.add(party.organisation_id)
        if party.role in ALWAYS_SIGN and not party.must_sign:
            yield Issue(
                f"parties.{i}.must_sign",
                f"must be true: a {party.role!r} party is bound only by its own signature",
            )


def most_payable(terms: Terms) -> Decimal | None:
    """The most the contract can ever pay (what the outcome service's running sums reach), or None when
    nothing bounds it: the contract cap, else the participant cap times what one participant can earn."""
    if terms.caps.contract_total is not None:
        return terms.caps.contract_total
    if terms.max_participants is None:
        return None
    each = sum((o.tariff * o.max_per_participant for o in terms.outcomes), Decimal(0))
    if terms.caps.per_participant is not None:
        each = min(each, terms.caps.per_participant)
    return each * terms.max_participants


def _total_issues(terms: Terms) -> Iterator[Issue]:
    most = most_payable(terms)
    if most is None:
        yield Issue(
            "caps.contract_total",
            "set a contract_total cap or max_participants: an unbounded total cannot be stored by the "
            f"outcome service (at most {MAX_AMOUNT})",
        )
    elif most > MAX_AMOUNT:
        yield Issue(
            "caps.contract_total",
            f"the contract could pay {most}; the outcome service stores at most {MAX_AMOUNT}: "
            "set a contract_total cap within that",
        )


def _termination_issues(terms: Terms) -> Iterator[Issue]:
    grant = terms.termination
    if grant is None:
        return
    if not grant.unilateral_roles and not grant.unilateral_organisations:
        yield Issue(
            "termination",
            "name the roles or organisations that may terminate alone, or leave the block out "
            "(termination is then by agreement of every signing party)",
        )
    signing = [p for p in terms.parties if p.must_sign]
    for j, role in enumerate(grant.unilateral_roles):
        if role not in {p.role for p in signing}:
            yield Issue(f"termination.unilateral_roles.{j}", f"no party that signs has the role {role!r}")
    if len(set(grant.unilateral_roles)) != len(grant.unilateral_roles):
        yield Issue("termination.unilateral_roles", "each role once")
    for j, organisation_id in enumerate(grant.unilateral_organisations):
        if organisation_id not in {p.organisation_id for p in signing}:
            yield Issue(f"termination.unilateral_organisations.{j}", "must be a party that signs")
    if len(set(grant.unilateral_organisations)) != len(grant.unilateral_organisations):
        yield Issue("termination.unilateral_organisations", "each organisation once")


def _outcome_issues(terms: Terms) -> Iterator[Issue]:
    codes: dict[str, int] = {}
    for i, outcome in enumerate(terms.outcomes):
        if outcome.code in codes:
            yield Issue(f"outcomes.{i}.code", f"duplicate outcome code {outcome.code!r}")
        codes.setdefault(outcome.code, i)
    for i, outcome in enumerate(terms.outcomes):
        for j, code in enumerate(outcome.prerequisites):
            if code not in codes:
                yield Issue(f"outcomes.{i}.prerequisites.{j}", f"no outcome has the code {code!r}")
            elif code == outcome.code:
                yield Issue(f"outcomes.{i}.prerequisites.{j}", "an outcome cannot require itself")
        window = outcome.window
        if window.closes_after_days < window.opens_after_days:
            yield Issue(f"outcomes.{i}.window.closes_after_days", "must not be before opens_after_days")
        if window.anchor == "enrolment" and window.anchor_outcome is not None:
            yield Issue(f"outcomes.{i}.window.anchor_outcome", "must be null when the anchor is enrolment")
        if window.anchor == "outcome":
            if window.anchor_outcome is None:
                yield Issue(f"outcomes.{i}.window.anchor_outcome", "name the outcome the window counts from")
            elif window.anchor_outcome not in outcome.prerequisites:
                yield Issue(f"outcomes.{i}.window.anchor_outcome", "must also be one of the prerequisites")
    yield from _cycle_issues(terms, codes)


def _cycle_issues(terms: Terms, codes: Mapping[str, int]) -> Iterator[Issue]:
    requires = {o.code: [p for p in o.prerequisites if p in codes and p != o.code] for o in terms.outcomes}
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


def _split_issues(terms: Terms) -> Iterator[Issue]:
    payers = {p.organisation_id for p in terms.parties if p.role == "outcome_payer"}
    split = terms.payer_split
    if split is None:
        if len(payers) > 1:
            yield Issue("payer_split", "say how outcome payments are split between the outcome payers")
        return
    if isinstance(split, FixedSplit):
        seen: set[UUID] = set()
        for i, share in enumerate(split.shares):
            path = f"payer_split.shares.{i}.organisation_id"
            if share.organisation_id not in payers:
                yield Issue(path, "must be an outcome_payer party")
            if share.organisation_id in seen:
                yield Issue(path, "each payer has one share")
            seen.add(share.organisation_id)
        total = sum((s.percent for s in split.shares), Decimal(0))
        if total != 100:
            yield Issue("payer_split.shares", f"percentages must sum to exactly 100, not {total}")
        return
    seen_codes: set[str] = set()
    for i, municipality in enumerate(split.municipalities):
        if municipality.organisation_id not in payers:
            yield Issue(f"payer_split.municipalities.{i}.organisation_id", "must be an outcome_payer party")
        if municipality.municipality_code in seen_codes:
            yield Issue(f"payer_split.municipalities.{i}.municipality_code", "each municipality once")
        seen_codes.add(municipality.municipality_code)


def normalised(terms: Terms) -> dict[str, Any]:
    """The terms as JSON, money written to exactly the currency's minor unit and a sole payer's split made
    explicit (call after `check_terms` found nothing), so two documents that mean the same thing hash the
    same."""
    exponent = MINOR_UNITS[terms.currency]
    quantum = Decimal(1).scaleb(-exponent)

    def fix(amount: Decimal | None) -> str | None:
        return None if amount is None else str(amount.quantize(quantum))

    document = terms.model_dump(mode="json")
    if terms.termination is None:
        # An optional block added within schema version 1: absent, a document hashes as it always did.
        del document["termination"]
    for raw, outcome in zip(document["outcomes"], terms.outcomes, strict=True):
        raw["tariff"] = fix(outcome.tariff)
    document["caps"] = {name: fix(getattr(terms.caps, name)) for name in Caps.model_fields}
    payers = [p.organisation_id for p in terms.parties if p.role == "outcome_payer"]
    if terms.payer_split is None and len(payers) == 1:
        # A sole payer pays everything: say so, so every reader finds an explicit split.
        document["payer_split"] = {
            "method": "fixed",
            "shares": [{"organisation_id": str(payers[0]), "percent": "100"}],
        }
    if isinstance(terms.payer_split, FixedSplit):
        for raw_share, share in zip(document["payer_split"]["shares"], terms.payer_split.shares, strict=True):
            raw_share["percent"] = format(share.percent.normalize(), "f")
    return document


def canonical_json(document: Any) -> bytes:
    """RFC 8785 (JCS) bytes of a JSON document."""
    data: bytes = rfc8785.dumps(document)
    return data


def content_hash(document: Any) -> str:
    """The hex SHA-256 of the document's canonical JSON: what a signature commits to."""
    return hashlib.sha256(canonical_json(document)).hexdigest()


# --- diff ------------------------------------------------------------------------------------------------

# Lists of objects are compared by a natural key rather than by position, so inserting an outcome does
# not show every later outcome as "changed".
_LIST_KEYS = ("code", "organisation_id")


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    for key in _LIST_KEYS:
        if items and all(isinstance(i, dict) and isinstance(i.get(key), str) for i in items):
            keys = [i[key] for i in items]
            if len(set(keys)) == len(keys):
                return dict(zip(keys, items, strict=True))
    return None


def diff_documents(before: Any, after: Any) -> dict[str, list[dict[str, Any]]]:
    """What changed from `before` to `after`: added, removed and changed dotted paths with values.

    Lists of objects with a unique `code` or `organisation_id` are addressed by it
    (`outcomes.job_start.tariff`); other lists by position.
    """
    result: dict[str, list[dict[str, Any]]] = {"added": [], "removed": [], "changed": []}

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, list) and isinstance(b, list):
            ka, kb = _keyed(a), _keyed(b)
            if ka is not None and kb is not None:
                a, b = ka, kb
            else:
                a, b = dict(enumerate(a)), dict(enumerate(b))
        if isinstance(a, dict) and isinstance(b, dict):
            for key in a.keys() | b.keys():
                sub = f"{path}.{key}" if path else str(key)
                if key not in b:
                    result["removed"].append({"path": sub, "value": a[key]})
                elif key not in a:
                    result["added"].append({"path": sub, "value": b[key]})
                else:
                    walk(a[key], b[key], sub)
            return
        if a != b or type(a) is not type(b):
            result["changed"].append({"path": path, "from": a, "to": b})

    walk(before, after, "")
    for entries in result.values():
        entries.sort(key=lambda e: e["path"])
    return result
