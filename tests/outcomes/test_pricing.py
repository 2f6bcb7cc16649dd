"""Pricing: tariff, caps in order with recorded cuts, and exact payer splits."""

from __future__ import annotations

import random
from decimal import Decimal
from uuid import uuid4

import pytest
from iso4217 import Currency

from services.contracts.terms import money as registry_money
from services.outcomes.pricing import (
    Caps,
    CapUsage,
    Cut,
    Share,
    price_claim,
    quantise,
    split_fixed,
    split_residence,
    supported,
)
from services.outcomes.pricing.money import minor_unit

D = Decimal


def test_without_caps_the_tariff_is_payable() -> None:
    price = price_claim(D("25000.00"), Caps(), CapUsage())
    assert (price.payable, price.cut, price.cuts) == (D("25000.00"), D(0), ())


def test_the_per_participant_cap_cuts_and_records_the_cut() -> None:
    price = price_claim(
        D("40000.00"), Caps(per_participant=D("60000.00")), CapUsage(participant=D("25000.00"))
    )
    assert price.payable == D("35000.00")
    assert price.cuts == (Cut("per_participant", D("5000.00")),)
    assert price.payable + price.cut == price.tariff


def test_caps_apply_in_order_and_each_cut_is_recorded() -> None:
    caps = Caps(per_participant=D("60000"), contract_total=D("100000"), per_period=D("50000"))
    usage = CapUsage(participant=D("30000"), contract=D("95000"), period=D("48000"))
    price = price_claim(D("40000"), caps, usage)
    assert price.payable == D("2000")
    assert price.cuts == (
        Cut("per_participant", D("10000")),
        Cut("contract_total", D("25000")),
        Cut("per_period", D("3000")),
    )
    assert sum(c.amount for c in price.cuts) == price.cut


def test_an_exhausted_or_overdrawn_cap_pays_nothing_never_negative() -> None:
    price = price_claim(D("100"), Caps(contract_total=D("1000")), CapUsage(contract=D("1200")))
    assert price.payable == D(0)
    assert price.cut == D("100")


def test_fixed_split_sums_exactly_by_largest_remainder() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()
    shares = [Share(a, D("33.33")), Share(b, D("33.33")), Share(c, D("33.34"))]
    lines = split_fixed(D("0.10"), shares, "DKK")
    assert [line.amount for line in lines] == [D("0.03"), D("0.03"), D("0.04")]


def test_sixty_forty_split() -> None:
    a, b = uuid4(), uuid4()
    lines = split_fixed(D("35000.01"), [Share(a, D(60)), Share(b, D(40))], "DKK")
    assert [(x.organisation_id, x.amount) for x in lines] == [(a, D("21000.01")), (b, D("14000.00"))]


def test_random_splits_always_sum_to_the_total() -> None:
    rng = random.Random(7)
    for _ in range(500):
        n = rng.randint(1, 5)
        cuts = sorted(rng.sample(range(1, 10000), n - 1))
        bounds = [0, *cuts, 10000]
        shares = [Share(uuid4(), D(bounds[i + 1] - bounds[i]) / 100) for i in range(n)]
        total = D(rng.randint(0, 10_000_000)) / 100
        lines = split_fixed(total, shares, "DKK")
        assert sum(line.amount for line in lines) == total
        for line, share in zip(lines, shares, strict=True):
            assert abs(line.amount - total * share.percent / 100) < D("0.01")


def test_shares_not_summing_to_100_are_refused() -> None:
    with pytest.raises(ValueError, match="100"):
        split_fixed(D(10), [Share(uuid4(), D(60)), Share(uuid4(), D(30))], "DKK")


def test_residence_split_charges_the_home_municipality() -> None:
    herning, viborg = uuid4(), uuid4()
    lines = split_residence(D("25000.00"), [(herning, "657"), (viborg, "791")], "791")
    assert [(x.organisation_id, x.amount) for x in lines] == [(viborg, D("25000.00"))]
    with pytest.raises(LookupError):
        split_residence(D(1), [(herning, "657")], "101")


def test_amounts_finer_than_the_minor_unit_are_refused() -> None:
    with pytest.raises(ValueError, match="minor unit"):
        quantise(D("1.001"), "DKK")


def test_zero_decimal_currencies_split_in_whole_units_and_three_decimal_ones_are_stored() -> None:
    """Amounts are stored at three decimals since issue 14; only a four-digit currency (CLF) does not fit."""
    a, b = uuid4(), uuid4()
    lines = split_fixed(D("1001"), [Share(a, D(50)), Share(b, D(50))], "ISK")
    assert [x.amount for x in lines] == [D("501"), D("500")]
    assert [x.amount for x in split_fixed(D("0.005"), [Share(a, D(50)), Share(b, D(50))], "BHD")] == [
        D("0.003"),
        D("0.002"),
    ]
    assert supported("DKK")
    assert supported("ISK")
    assert supported("BHD")
    assert supported("ARS")
    assert not supported("CLF")
    assert not supported("XAU")


def test_the_registry_and_the_engine_agree_on_every_iso_4217_currency_and_its_minor_unit() -> None:
    """Every code of the ISO table `iso4217` carries: a currency the registry signs terms in is one the
    outcome service prices in, to the same minor unit, and one it refuses (no minor unit, or more decimals
    than NUMERIC(18, 3) holds) the outcome service refuses too."""
    accepted = 0
    for currency in Currency:
        code = currency.code
        if registry_money.currency_issue(code) is None:
            accepted += 1
            assert supported(code), code
            assert minor_unit(code) == registry_money.quantum(code), code
            assert quantise(minor_unit(code) * 7, code) == minor_unit(code) * 7, code
        else:
            assert not supported(code), code
    assert accepted > 150  # the active currencies with a minor unit (ARS, BHD, JPY, ... all of them)
