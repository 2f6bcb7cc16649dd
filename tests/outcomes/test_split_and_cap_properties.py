"""Properties of the money mechanics below the engine (test_pricing_properties.py drives the engine whole):
a split always sums to the amount in whole minor units of any currency, each part within one unit of its
exact share; a mixed split's shares sum to 100 %; a payer's maximum cuts only that payer's line; the
contract-level caps leave the least room of all and record every cut they make."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from services.outcomes.pricing import caps, payers
from services.outcomes.pricing.money import minor_unit, to_units

CURRENCIES = ("DKK", "EUR", "JPY", "ISK", "BHD", "KWD")
ORGS = [UUID(int=i) for i in range(1, 7)]


def _amounts(currency: str, high: int = 10**9) -> st.SearchStrategy[Decimal]:
    unit = minor_unit(currency)
    return st.integers(0, high).map(lambda units: Decimal(units) * unit)


@st.composite
def percent_shares(draw: st.DrawFn, *, low: int = 1) -> tuple[payers.Share, ...]:
    """Two to five distinct payers whose percentages (to two decimals) sum to exactly 100."""
    count = draw(st.integers(low, 5))
    cuts = sorted(draw(st.lists(st.integers(1, 9_999), min_size=count - 1, max_size=count - 1, unique=True)))
    edges = [0, *cuts, 10_000]
    return tuple(payers.Share(ORGS[i], Decimal(edges[i + 1] - edges[i]).scaleb(-2)) for i in range(count))


@given(total=st.integers(0, 10**12), weights=st.lists(st.integers(0, 10**6), min_size=1, max_size=8))
def test_largest_remainder_sums_exactly_and_stays_within_one_unit_of_each_exact_share(
    total: int, weights: list[int]
) -> None:
    parts = payers.largest_remainder(total, [Decimal(w) for w in weights])
    whole = sum(weights)
    if whole == 0:
        assert parts == [0] * len(weights)
        return
    assert sum(parts) == total
    for part, weight in zip(parts, weights, strict=True):
        exact = Decimal(total) * weight / whole
        assert exact - 1 < part < exact + 1
        assert part >= 0


@given(data=st.data(), currency=st.sampled_from(CURRENCIES), shares=percent_shares())
def test_a_fixed_split_sums_to_the_amount_in_whole_minor_units(
    data: st.DataObject, currency: str, shares: tuple[payers.Share, ...]
) -> None:
    amount = data.draw(_amounts(currency))
    lines = payers.split_fixed(amount, shares, currency)
    assert sum(line.amount for line in lines) == amount
    assert [line.organisation_id for line in lines] == [s.organisation_id for s in shares]
    for line in lines:
        assert line.amount >= 0
        assert line.amount == Decimal(to_units(line.amount, currency)) * minor_unit(currency)


@given(
    fixed=st.integers(0, 100).map(Decimal),
    rest=st.sampled_from(["fixed", "residence"]),
    shares=percent_shares(),
)
def test_a_mixed_splits_shares_sum_to_one_hundred_percent_and_name_each_payer_once(
    fixed: Decimal, rest: str, shares: tuple[payers.Share, ...]
) -> None:
    fund = payers.Share(UUID(int=99), fixed)
    remainder: payers.FixedSplit | payers.ResidenceSplit = (
        payers.FixedSplit(shares)
        if rest == "fixed"
        else payers.ResidenceSplit(tuple((s.organisation_id, f"{i:03}") for i, s in enumerate(shares)))
    )
    found = payers.shares_for(payers.MixedSplit((fund,), remainder), "000")
    assert sum(s.percent for s in found) == payers.HUNDRED
    assert len({s.organisation_id for s in found}) == len(found)


@given(
    data=st.data(),
    currency=st.sampled_from(CURRENCIES),
    shares=percent_shares(),
    own=st.lists(st.sampled_from(ORGS), max_size=3, unique=True),
)
def test_the_lines_of_a_claim_sum_to_its_tariff_and_to_its_payable_amount(
    data: st.DataObject, currency: str, shares: tuple[payers.Share, ...], own: list[UUID]
) -> None:
    own_prices = [(org, data.draw(_amounts(currency, 10**6))) for org in own]
    tariff = sum((p for _, p in own_prices), Decimal(0)) + data.draw(_amounts(currency))
    payable = data.draw(
        st.integers(0, to_units(tariff, currency)).map(lambda u: Decimal(u) * minor_unit(currency))
    )
    lines = payers.lines_for(tariff, payable, shares, own_prices, currency)
    assert sum(line.tariff_share for line in lines) == tariff
    assert sum(line.amount for line in lines) == payable
    assert all(line.amount >= 0 for line in lines)


@given(data=st.data(), shares=percent_shares())
def test_a_payers_maximum_cuts_only_that_payers_line_and_never_below_zero(
    data: st.DataObject, shares: tuple[payers.Share, ...]
) -> None:
    lines = [
        caps.Line(s.organisation_id, Decimal(0), a)
        for s, a in zip(
            shares,
            data.draw(st.lists(_amounts("DKK", 10**7), min_size=len(shares), max_size=len(shares))),
            strict=True,
        )
    ]
    capped_orgs = data.draw(st.sets(st.sampled_from([s.organisation_id for s in shares])))
    maxima = {org: data.draw(_amounts("DKK", 10**7)) for org in capped_orgs}
    paid = {org: data.draw(_amounts("DKK", 10**7)) for org in capped_orgs}
    capped, cuts = payers.cap_payers(lines, maxima, paid)
    cut_by = {c.cap: c.amount for c in cuts}
    for before, after in zip(lines, capped, strict=True):
        org = before.organisation_id
        if org not in maxima:
            assert after == before
            continue
        room = max(maxima[org] - paid[org], Decimal(0))
        assert after.amount == min(before.amount, room)
        assert cut_by.get(f"per_payer:{org}", Decimal(0)) == before.amount - after.amount


_CAP = st.none() | _amounts("DKK", 10**7)


@given(
    tariff=_amounts("DKK", 10**7),
    per_participant=_CAP,
    contract_total=_CAP,
    per_period=_CAP,
    outcome_count=st.none() | st.integers(0, 5),
    outcome_amount=_CAP,
    usage=st.tuples(*[_amounts("DKK", 2 * 10**7)] * 4, st.integers(0, 8)),
)
def test_the_contract_caps_leave_the_least_room_of_all_and_every_cut_is_recorded(
    tariff: Decimal,
    per_participant: Decimal | None,
    contract_total: Decimal | None,
    per_period: Decimal | None,
    outcome_count: int | None,
    outcome_amount: Decimal | None,
    usage: tuple[Decimal, Decimal, Decimal, Decimal, int],
) -> None:
    participant, contract, period, outcome_paid, count = usage
    limits = caps.Caps(per_participant=per_participant, contract_total=contract_total, per_period=per_period)
    used = caps.CapUsage(
        participant=participant,
        contract=contract,
        period=period,
        outcome_count=count,
        outcome_paid=outcome_paid,
    )
    outcome = caps.OutcomeCap(count=outcome_count, amount=outcome_amount)
    price = caps.price_claim(tariff, limits, used, outcome)
    rooms = [max(room, Decimal(0)) for _, room in caps.rooms(limits, used, outcome, tariff)]
    assert price.payable == min([tariff, *rooms])
    assert price.payable + sum(c.amount for c in price.cuts) == tariff
    assert all(c.amount > 0 for c in price.cuts)
    assert len({c.cap for c in price.cuts}) == len(price.cuts)
