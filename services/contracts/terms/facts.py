"""Facts and criteria: what a claim may report (each fact with its type, and a unit a person reads), and
the conditions over those facts an outcome's claim must meet.

Criteria and bands may only name declared facts and must compare like with like: a decimal fact with a
decimal string, an integer fact with a JSON integer, a boolean with true/false, a choice with one of its
choices. Only numbers are ordered (`gt`, `gte`, `lt`, `lte`); `in` takes a non-empty list. All criteria
of an outcome must hold.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from kit.text import FreeText
from services.contracts.terms.issues import Issue
from services.contracts.terms.names import Code
from services.contracts.terms.strict import Strict, dispatch

Choice = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]


class _Fact(Strict):
    name: Code
    description: FreeText = Field("", max_length=2000)


class DecimalFact(_Fact):
    type: Literal["decimal"]
    unit: FreeText = Field("", max_length=40, description="What a value counts, e.g. `hours`")
    measure: Literal["continuous", "cumulative"] | None = Field(
        None, description="Whether the value must hold without a break, or adds up over breaks"
    )


class IntegerFact(_Fact):
    type: Literal["integer"]
    unit: FreeText = Field("", max_length=40, description="What a value counts, e.g. `weeks`")
    measure: Literal["continuous", "cumulative"] | None = Field(
        None, description="Whether the value must hold without a break, or adds up over breaks"
    )


class BooleanFact(_Fact):
    type: Literal["boolean"]


class ChoiceFact(_Fact):
    type: Literal["choice"]
    choices: list[Choice] = Field(min_length=2, max_length=100)


FACT_KINDS: Mapping[str, type[_Fact]] = {
    "decimal": DecimalFact,
    "integer": IntegerFact,
    "boolean": BooleanFact,
    "choice": ChoiceFact,
}
Fact = Annotated[
    DecimalFact | IntegerFact | BooleanFact | ChoiceFact, WrapValidator(dispatch("type", FACT_KINDS))
]

Operator = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in"]
ORDERED = frozenset({"gt", "gte", "lt", "lte"})


Scalar = StrictBool | StrictInt | StrictStr
MAX_LISTED = 100


def _comparand(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # By JSON type, so an error names the value's own path rather than a union member's.
    def scalar(item: Any, loc: tuple[int, ...]) -> InitErrorDetails | None:
        if isinstance(item, float):
            reason = 'give a decimal as a string, e.g. "7.5", not a JSON number with a fraction'
        elif isinstance(item, bool | int | str):
            return None
        else:
            reason = "compare with a string, an integer or true/false"
        return InitErrorDetails(
            type=PydanticCustomError("criterion_value", "{reason}", {"reason": reason}), loc=loc, input=item
        )

    if isinstance(value, list):
        if len(value) > MAX_LISTED:
            raise PydanticCustomError("too_long", "list at most {n} values", {"n": MAX_LISTED})
        errors = [e for k, item in enumerate(value) if (e := scalar(item, (k,))) is not None]
    else:
        errors = [e] if (e := scalar(value, ())) is not None else []
    if errors:
        raise ValidationError.from_exception_data("criterion", errors)
    return value


class Criterion(Strict):
    fact: Code
    op: Operator
    value: Annotated[Scalar | list[Scalar], WrapValidator(_comparand)] = Field(
        description=f"Of the fact's type; a list (at most {MAX_LISTED}) for `in`"
    )


def decimal_text(value: object) -> Decimal | None:
    """The decimal a criterion or band value writes, or None when it is not a plain ASCII decimal."""
    if (
        isinstance(value, bool)
        or not isinstance(value, str | int)
        or (isinstance(value, str) and not value.isascii())
    ):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _value_issue(fact: DecimalFact | IntegerFact | BooleanFact | ChoiceFact, value: object) -> str | None:
    match fact:
        case DecimalFact():
            ok = decimal_text(value) is not None
            return None if ok else f'`{fact.name}` is a decimal: compare with a decimal string, e.g. "7.5"'
        case IntegerFact():
            ok = isinstance(value, int) and not isinstance(value, bool)
            return None if ok else f"`{fact.name}` is an integer: compare with a JSON integer"
        case BooleanFact():
            return (
                None if isinstance(value, bool) else f"`{fact.name}` is a boolean: compare with true or false"
            )
        case ChoiceFact():
            if isinstance(value, str) and value in fact.choices:
                return None
            return f"`{fact.name}` is one of " + ", ".join(f"`{c}`" for c in fact.choices)


def fact_issues(facts: Sequence[DecimalFact | IntegerFact | BooleanFact | ChoiceFact]) -> Iterator[Issue]:
    seen: set[str] = set()
    for i, fact in enumerate(facts):
        if fact.name in seen:
            yield Issue(f"facts.{i}.name", f"duplicate fact {fact.name!r}")
        seen.add(fact.name)
        if isinstance(fact, ChoiceFact) and len(set(fact.choices)) != len(fact.choices):
            yield Issue(f"facts.{i}.choices", "each choice once")


def criterion_issues(
    criterion: Criterion, path: str, facts: Mapping[str, DecimalFact | IntegerFact | BooleanFact | ChoiceFact]
) -> Iterator[Issue]:
    fact = facts.get(criterion.fact)
    if fact is None:
        yield Issue(f"{path}.fact", f"no fact named {criterion.fact!r} is declared in `facts`")
        return
    if criterion.op in ORDERED and not isinstance(fact, DecimalFact | IntegerFact):
        yield Issue(f"{path}.op", f"`{criterion.op}` compares numbers; `{fact.name}` is a {fact.type}")
        return
    if criterion.op == "in":
        if not isinstance(criterion.value, list) or not criterion.value:
            yield Issue(f"{path}.value", "`in` takes a non-empty list of values")
            return
        for k, value in enumerate(criterion.value):
            if reason := _value_issue(fact, value):
                yield Issue(f"{path}.value.{k}", reason)
        return
    if isinstance(criterion.value, list):
        yield Issue(f"{path}.value", f"`{criterion.op}` takes one value; a list is for `in`")
    elif reason := _value_issue(fact, criterion.value):
        yield Issue(f"{path}.value", reason)
