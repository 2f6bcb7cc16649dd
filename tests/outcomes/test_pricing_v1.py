"""Version-1 terms price exactly as before the engine: the same tariff, payable amount, named cuts and
split lines as the frozen version-1 module, for any version-1 document the registry accepted, read through
the outcome service's tolerant reader."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from services.outcomes import pricing
from services.outcomes.clients.contracts import Terms
from tests.outcomes import v1_pricing_oracle as v1

PAYERS = [UUID(int=i) for i in range(1, 5)]
CODES = ["101", "147", "657", "791"]


def _money(digits: int = 2, top: int = 200_000) -> st.SearchStrategy[Decimal]:
    return st.integers(0, top * 10**digits).map(lambda u: Decimal(u).scaleb(-digits))


@st.composite
def v1_documents(draw: st.DrawFn) -> dict[str, Any]:
    currency = draw(st.sampled_from(["DKK", "EUR", "ISK", "SEK"]))
    digits = v1.MINOR_UNITS.get(currency, 2)
    if draw(st.booleans()):
        n = draw(st.integers(1, 4))
        cuts = sorted(draw(st.lists(st.integers(1, 9999), min_size=n - 1, max_size=n - 1, unique=True)))
        bounds = [0, *cuts, 10000]
        split: dict[str, Any] = {
            "method": "fixed",
            "shares": [
                {"organisation_id": str(PAYERS[i]), "percent": str(Decimal(bounds[i + 1] - bounds[i]) / 100)}
                for i in range(n)
            ],
        }
    else:
        split = {
            "method": "residence",
            "municipalities": [
                {"organisation_id": str(p), "municipality_code": c}
                for p, c in zip(PAYERS, CODES, strict=True)
            ],
        }
    caps = {
        name: str(draw(_money(digits)))
        for name in ("per_participant", "contract_total", "per_period")
        if draw(st.booleans())
    }
    return {
        "schema_version": 1,
        "currency": currency,
        "start_date": "2027-01-01",
        "end_date": "2029-12-31",
        "outcomes": [
            {"code": "JOB_START", "tariff": str(draw(_money(digits, 60_000))), "max_per_participant": 1}
        ],
        "caps": caps,
        "payer_split": split,
    }


def _oracle(
    document: dict[str, Any], usage: v1.CapUsage, home: str
) -> tuple[Any, list[tuple[UUID, Decimal, Decimal]]]:
    """What the version-1 verification priced: the oracle's price, then its split of payable and tariff."""
    currency, caps = document["currency"], document["caps"]
    tariff = v1.quantise(Decimal(document["outcomes"][0]["tariff"]), currency)
    price = v1.price_claim(
        tariff,
        v1.Caps(**{k: Decimal(v) for k, v in caps.items()}),
        usage,
    )
    split = document["payer_split"]
    if split["method"] == "fixed":
        shares = [v1.Share(UUID(s["organisation_id"]), Decimal(s["percent"])) for s in split["shares"]]
        amounts = v1.split_fixed(price.payable, shares, currency)
        tariffs = v1.split_fixed(price.tariff, shares, currency)
    else:
        homes = [(UUID(m["organisation_id"]), m["municipality_code"]) for m in split["municipalities"]]
        amounts = v1.split_residence(price.payable, homes, home)
        tariffs = v1.split_residence(price.tariff, homes, home)
    return price, [(a.organisation_id, t.amount, a.amount) for a, t in zip(amounts, tariffs, strict=True)]


@settings(max_examples=400, deadline=None)
@given(
    document=v1_documents(),
    used=st.tuples(_money(0, 300_000), _money(0, 300_000), _money(0, 300_000)),
    home=st.sampled_from(CODES),
)
def test_version_1_terms_price_exactly_as_the_version_1_module_did(
    document: dict[str, Any], used: tuple[Decimal, Decimal, Decimal], home: str
) -> None:
    terms = Terms.model_validate(document)
    outcome = terms.engine_outcome("JOB_START")
    assert outcome is not None
    participant, contract, period = used
    usage = pricing.CapUsage(participant=participant, contract=contract, period=period)
    price = pricing.price(pricing.Claim("JOB_START", municipality_code=home), outcome, terms.engine(), usage)
    expected, lines = _oracle(document, v1.CapUsage(participant, contract, period), home)
    assert (price.tariff, price.payable) == (expected.tariff, expected.payable)
    assert [(c.cap, c.amount) for c in price.cuts] == [(c.cap, c.amount) for c in expected.cuts]
    assert [(x.organisation_id, x.tariff_share, x.amount) for x in price.lines] == lines


def test_a_stored_version_1_document_reads_as_flat_once_unless_limited() -> None:
    """A version-1 outcome without `max_per_participant` had no limit; version 2's default is once."""
    document = {
        "currency": "DKK",
        "start_date": "2027-01-01",
        "end_date": "2029-12-31",
        "outcomes": [{"code": "JOB_START", "tariff": "25000.00"}],
        "payer_split": {"method": "fixed", "shares": [{"organisation_id": str(uuid4()), "percent": "100"}]},
    }
    v1_terms = Terms.model_validate(document)
    v1_outcome = v1_terms.engine_outcome("JOB_START")
    assert v1_outcome is not None
    assert v1_outcome.rule == pricing.Flat(Decimal("25000.00"))
    assert v1_outcome.repeat == pricing.Repeat(None)
    v2_outcome = Terms.model_validate(document | {"schema_version": 2}).engine_outcome("JOB_START")
    assert v2_outcome is not None
    assert v2_outcome.repeat == pricing.Repeat(1)
