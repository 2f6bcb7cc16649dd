"""Amounts and shares in contract terms are ASCII digits: `Decimal()` reads every script's
digits, so "٢٥٠٠٠.00" would pass as 25000.00 where the documented pattern says `[0-9]`."""

from __future__ import annotations

import httpx

from effekt.sandbox.cast import Cast
from tests.digits import FAMILIES, written_in
from tests.outcomes.support import employment_terms, key


async def test_terms_with_other_scripts_digits_are_refused(cast: Cast, contracts: httpx.AsyncClient) -> None:
    for family in FAMILIES:
        for where in ("tariff", "percent"):
            terms = employment_terms(cast)
            if where == "tariff":
                terms["outcomes"][0]["tariff"] = written_in(family, "25000.00")
            else:
                terms["payer_split"]["shares"][0]["percent"] = written_in(family, "60")
            response = await contracts.post(
                "/v1/contracts",
                json={"partnership_id": str(cast.partnership_id), "terms": terms},
                headers={**cast.provider.headers, **key()},
            )
            assert response.status_code == 422, (family, where, response.text)
            assert response.headers["content-type"] == "application/problem+json"
    listed = await contracts.get(
        "/v1/contracts", params={"partnership_id": str(cast.partnership_id)}, headers=cast.provider.headers
    )
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"] == []
