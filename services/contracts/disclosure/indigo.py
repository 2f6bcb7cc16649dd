"""A partnership as an INDIGO project document (INDIGO data standard 2.3.0, Government Outcomes Lab,
https://indigo-data-standard.readthedocs.io), holding only `public` blocks.

Fields follow the standard's project model: values wrapped as `{"value": ...}`, organisations referenced
by id, amounts as JSON numbers with their currency beside them. The standard keeps organisations in a
model of their own; this document carries them under `organisations`, each in the organisation model's
shape with its org-id (`DK-CVR-12345678`) as both `id` and `org-ids.primary`, so one document stands
alone. The JSON Schema it is checked against is docs/open-data/indigo-project-2.3.0.schema.json.

The project is the partnership; project-level facts (name, dates, target group) are its current
contract's, the one that became active last. Outcome metric ids are the outcome codes (prefixed `C<n>-`
when the partnership has several contracts).
"""

from __future__ import annotations

import calendar
from typing import Any

from services.contracts.disclosure.source import ContractFacts, Source, number

STANDARD_VERSION = "2.3.0"
GOVERNMENT = "Government/Public Sector/Public Bank"
PAYER_TYPES = frozenset({"municipality", "outcome_funder"})
# How the registry's roles map onto INDIGO's intermediary roles (others are not intermediaries).
INTERMEDIARY_ROLES = {"adviser": "Legal counsel"}


def _v(value: Any) -> dict[str, Any]:
    return {"value": value}


def _month(month: str) -> dict[str, Any]:
    year, m = (int(x) for x in month.split("-"))
    last = calendar.monthrange(year, m)[1]
    return {"start_date": _v(f"{month}-01"), "end_date": _v(f"{month}-{last:02d}")}


def _stage(contract: ContractFacts) -> str:
    status = contract.current.status
    if status in ("terminated", "expired"):
        return "Complete"
    return "Implementation"


def render(source: Source) -> dict[str, Any]:
    """The INDIGO project document of what `source` shows."""
    doc: dict[str, Any] = {"status": "PUBLIC"}
    contracts = list(source.contracts)
    several = len(contracts) > 1

    def metric_id(index: int, code: str) -> str:
        return f"C{index + 1}-{code}" if several else code

    current = max(contracts, key=lambda c: c.current.activated_at) if contracts else None
    if current is not None:
        terms = current.current.terms
        if source.shows("contract.title"):
            doc["name"] = _v(terms["title"])
        dates: dict[str, Any] = {}
        if source.shows("contract.period"):
            doc["stage_development"] = _v(_stage(current))
            dates["start_date_of_service_provision"] = {"value": terms["start_date"], "status": "PUBLIC"}
            dates["anticipated_end_date_of_service_provision"] = {
                "value": terms["end_date"],
                "status": "PUBLIC",
            }
            if current.current.terminated_on is not None:
                dates["actual_end_date_of_service_provision"] = {
                    "value": current.current.terminated_on.isoformat(),
                    "status": "PUBLIC",
                }
        if source.shows("contract.signatories") and current.versions[0].signatures:
            signed = max(s.signed_at for s in current.versions[0].signatures)
            dates["outcomes_contract_signed"] = {"value": signed.date().isoformat(), "status": "PUBLIC"}
        if dates:
            doc["dates"] = dates
        beneficiaries: dict[str, Any] = {}
        if source.shows("contract.target_group"):
            wording = " ".join(
                [terms.get("target_group", ""), *terms.get("eligibility_criteria", [])]
            ).strip()
            if wording:
                beneficiaries["target_population"] = {"value": wording, "status": "PUBLIC"}
        if source.shows("contract.max_participants") and terms.get("max_participants") is not None:
            beneficiaries["targeted_number_service_users_or_beneficiaries_total"] = {
                "value": terms["max_participants"],
                "status": "PUBLIC",
            }
            beneficiaries["unit_type_targeted_service_users_or_beneficiaries"] = {
                "value": "Individual",
                "status": "PUBLIC",
            }
        results = source.results
        if results is not None and source.shows("results.engaged") and results["engaged"] is not None:
            beneficiaries["actual_number_service_users_or_beneficiaries_total"] = {
                "value": results["engaged"],
                "status": "PUBLIC",
            }
        if beneficiaries:
            doc["service_and_beneficiaries"] = beneficiaries
        finance: dict[str, Any] = {}
        cap = terms.get("caps", {}).get("contract_total")
        if source.shows("contract.caps") and cap is not None:
            finance["maximum_potential_outcome_payment_v2"] = {
                "currency": {"value": terms["currency"], "status": "PUBLIC"},
                "amount": {"value": number(cap), "status": "PUBLIC"},
            }
        if results is not None and source.shows("results.payments") and results["total_value"] is not None:
            finance["total_outcome_payments_made"] = {
                "currency": {"value": terms["currency"], "status": "PUBLIC"},
                "amount": {"value": number(results["total_value"]), "status": "PUBLIC"},
            }
        if finance:
            doc["overall_project_finance"] = finance

    if source.shows("contract.parties"):
        _parties(doc, source, contracts)
    if source.shows("contract.outcome_metrics"):
        doc["outcome_metrics"] = [
            _metric(metric_id(i, o["code"]), o)
            for i, c in enumerate(contracts)
            for o in c.current.terms["outcomes"]
        ]
    if source.shows("contract.outcome_metrics", "contract.outcome_pricing"):
        doc["outcome_pricings"] = [
            _pricing(metric_id(i, o["code"]), o, c.current.terms["currency"])
            for i, c in enumerate(contracts)
            for o in c.current.terms["outcomes"]
        ]
    _results(doc, source, contracts, metric_id)
    doc["open_contracting_datas"] = [
        {"ocid": f"{source.ocid_prefix}-{c.id}", "notes": "The contract as OCDS releases and a record"}
        for c in contracts
    ]
    return doc


def _organisation(identifier: str, name: str, partner_type: str) -> dict[str, Any]:
    org: dict[str, Any] = {
        "id": identifier,
        "name": _v(name),
        "org-ids": {"primary": _v(identifier)},
        "country": _v(identifier[:2]),
    }
    if partner_type in PAYER_TYPES:
        org["type"] = _v("Government body")
    return org


def _parties(doc: dict[str, Any], source: Source, contracts: list[ContractFacts]) -> None:
    organisations: dict[str, dict[str, Any]] = {}
    commitments: list[dict[str, Any]] = []
    investments: list[dict[str, Any]] = []
    provisions: list[dict[str, Any]] = []
    intermediaries: list[dict[str, Any]] = []
    for contract in contracts:
        terms = contract.current.terms
        per_payer = {p["organisation_id"]: p["amount"] for p in terms.get("caps", {}).get("per_payer", [])}
        for party in terms["parties"]:
            org = source.organisation(party["organisation_id"])
            if org is None:  # identity did not show it: never name an organisation by a bare uuid
                continue
            organisations.setdefault(
                org.identifier, _organisation(org.identifier, org.name, org.partner_type)
            )
            ref = _v(org.identifier)
            match party["role"]:
                case "outcome_payer":
                    commitment: dict[str, Any] = {"organisation_id": ref}
                    if org.partner_type in PAYER_TYPES:
                        commitment["organisation_role_category"] = _v(GOVERNMENT)
                    amount = per_payer.get(party["organisation_id"])
                    if amount is not None and source.shows("contract.caps", "contract.payer_split"):
                        commitment["maximum_potential_outcome_payment"] = {
                            "currency": {"value": terms["currency"], "status": "PUBLIC"},
                            "amount": _v(number(amount)),
                        }
                    commitments.append(commitment)
                case "investor":
                    investments.append({"id": f"INV-{len(investments) + 1}", "organisation_id": ref})
                case "provider":
                    provision: dict[str, Any] = {"id": f"SP-{len(provisions) + 1}", "organisation_id": ref}
                    if source.shows("contract.period"):
                        provision["planned_service"] = {
                            "start_date": _v(terms["start_date"]),
                            "end_date": _v(terms["end_date"]),
                        }
                    provisions.append(provision)
                case role if role in INTERMEDIARY_ROLES:
                    intermediaries.append(
                        {"organisation_id": ref, "organisation_role_category": _v(INTERMEDIARY_ROLES[role])}
                    )
    doc["organisations"] = sorted(organisations.values(), key=lambda o: o["id"])
    doc["outcome_payment_commitments"] = commitments
    doc["investments"] = investments
    doc["service_provisions"] = provisions
    doc["intermediary_services"] = intermediaries


def _metric(metric_id: str, outcome: dict[str, Any]) -> dict[str, Any]:
    definition = outcome["name"] + (f": {outcome['description']}" if outcome.get("description") else "")
    metric: dict[str, Any] = {
        "id": metric_id,
        "definition": _v(definition),
        "unit_type_of_targeted_service_users_or_beneficiaries": _v("Individual"),
        "outcome_validation_method": _v("Simple ex-post verification"),
    }
    if outcome.get("evidence_required"):
        metric["data_source_for_outcome_validation"] = _v(outcome["evidence_required"])
    return metric


def _pricing(metric_id: str, outcome: dict[str, Any], currency: str) -> dict[str, Any]:
    pricing: dict[str, Any] = {"outcome_metric_id": _v(metric_id), "currency": _v(currency)}
    tariff = outcome.get("tariff")
    if isinstance(tariff, str):
        pricing["price_per_unit"] = {"amount": _v(number(tariff))}
    else:
        pricing["price_description"] = _v(_describe_price(outcome))
    return pricing


def _describe_price(outcome: dict[str, Any]) -> str:
    """A rate card's price in words, for outcomes whose price is not one amount."""
    if outcome.get("bands"):
        bands = outcome["bands"]
        return f"Banded by {bands['fact']}: " + "; ".join(
            f"{b['code']} from {b['from']}" + (f" to {b['to']}" if b.get("to") is not None else "")
            for b in bands["bands"]
        )
    if outcome.get("tiers"):
        return "Volume tiers: " + "; ".join(
            f"up to {t['up_to']}" if t.get("up_to") is not None else "beyond" for t in outcome["tiers"]
        )
    return "Priced by segment"


def _results(doc: dict[str, Any], source: Source, contracts: list[ContractFacts], metric_id: Any) -> None:
    results = source.results
    if results is None:
        return
    codes = {
        o["code"]: metric_id(i, o["code"])
        for i, c in enumerate(contracts)
        for o in c.current.terms["outcomes"]
    }
    currency = contracts[0].current.terms["currency"] if contracts else None
    threshold = results["threshold"]
    withheld = f"Withheld: {threshold} or fewer (small-cell rule)"
    rows: list[dict[str, Any]] = []
    if source.shows("results.engaged"):
        engaged: dict[str, Any] = {"result_level": _v("Project level"), "result_type": _v("Interim")}
        if results["engaged"] is not None:
            engaged["number_engaged_in_impact_bond"] = _v(results["engaged"])
        else:
            engaged["notes"] = withheld
        rows.append(engaged)
    per_metric = source.shows("contract.outcome_metrics")
    if per_metric and source.shows("results.outcomes"):
        for row in results["outcomes"]:
            result: dict[str, Any] = {
                "outcome_metric_id": _v(codes.get(row["outcome_code"], row["outcome_code"])),
                "result_level": _v("Outcome level"),
                "result_type": _v("Interim"),
                "period": _month(row["month"]),
            }
            if row["verified"] is not None:
                result["number_with_positive_social_outcomes"] = _v(row["verified"])
            else:
                result["notes"] = withheld
            rows.append(result)
    if rows:
        doc["results"] = rows
    if not (per_metric and source.shows("results.payments")) or currency is None:
        return
    payments: list[dict[str, Any]] = []
    for row in results["outcomes"]:
        if row["value"] is None:
            continue
        payments.append(
            {
                "outcome_metric_id": _v(codes.get(row["outcome_code"], row["outcome_code"])),
                "period": _month(row["month"]),
                "type": _v("Actual"),
                "money": {"currency": _v(currency), "amount": _v(number(row["value"]))},
            }
        )
    for c in results["contracts"]:
        if c["pending_value"] is not None and c["currency"]:
            payments.append(
                {
                    "type": _v("Planned"),
                    "money": {"currency": _v(c["currency"]), "amount": _v(number(c["pending_value"]))},
                    "notes": "Claims awaiting verification, at their nominal price",
                }
            )
    doc["outcome_payments"] = payments
