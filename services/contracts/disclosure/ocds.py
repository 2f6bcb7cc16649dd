"""A contract as Open Contracting Data Standard 1.1 data (schema 1.1.5, https://standard.open-contracting.org):
one release per version that governed, and a record that embeds them with their compiled release; only
`public` blocks. The JSON Schemas they are checked against are in docs/open-data/.

Mapping: the contract is one contracting process, `ocid` = `<prefix>-<contract id>`; a version is a release
(`tag` `contract` for the first, `contractAmendment` for each amendment, `contractTermination` added
once it ended); its organisations are `parties` with OCDS roles (outcome payers `buyer` and `payer`, the
provider `supplier` and `payee`, investors `funder`, evaluators `reviewBody`, advisers and observers
`interestedParty`), identified by their org-id (`identifier.scheme` `DK-CVR`); outcomes are contract
`milestones` of type `delivery`; each amendment carries its `rationale` and the public paths it changed;
who signed is the `signatories` of the Contract signatories extension (ocds_contract_signatories_extension).
Releases have `initiationType` `tender` (OCDS requires it) and an award whose supplier is the provider,
because an OCDS contract must name its award.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time
from typing import Any

from services.contracts.disclosure.source import ContractFacts, Source, VersionFacts, block_of, number
from services.contracts.terms import diff_documents

OCDS_VERSION = "1.1"
SCHEMA_VERSION = "1.1.5"
SIGNATORIES_EXTENSION = (
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_contract_signatories_extension/"
    "master/extension.json"
)
ROLES: Mapping[str, tuple[str, ...]] = {
    "outcome_payer": ("buyer", "payer"),
    "provider": ("supplier", "payee"),
    "investor": ("funder",),
    "evaluator": ("reviewBody",),
    "adviser": ("interestedParty",),
    "observer": ("interestedParty",),
}


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _day(day: str) -> str:
    return _when(datetime.combine(datetime.fromisoformat(day).date(), time(0), tzinfo=UTC))


def ocid(source: Source, contract: ContractFacts) -> str:
    return f"{source.ocid_prefix}-{contract.id}"


def release_id(contract: ContractFacts, version: VersionFacts) -> str:
    return f"{contract.id}-{version.number}"


def _reference(source: Source, organisation_id: str) -> dict[str, str] | None:
    org = source.organisation(organisation_id)
    return None if org is None else {"id": org.identifier, "name": org.name}


def _party(source: Source, organisation_id: str, roles: list[str]) -> dict[str, Any] | None:
    org = source.organisation(organisation_id)
    if org is None:
        return None
    scheme, _, local = org.identifier.rpartition("-")
    return {
        "id": org.identifier,
        "name": org.name,
        "identifier": {"scheme": scheme, "id": local, "legalName": org.name},
        "roles": roles,
    }


def _contract_status(version: VersionFacts) -> str:
    return "terminated" if version.status in ("terminated", "expired") else "active"


def release(source: Source, contract: ContractFacts, index: int) -> dict[str, Any]:
    """Version `index` (0-based, among those that governed) of `contract` as a release."""
    version = contract.versions[index]
    terms = version.terms
    tags = ["contract" if index == 0 else "contractAmendment"]
    if version.status in ("terminated", "expired"):
        tags.append("contractTermination")
    doc: dict[str, Any] = {
        "ocid": ocid(source, contract),
        "id": release_id(contract, version),
        "date": _when(version.activated_at),
        "tag": tags,
        "initiationType": "tender",
    }
    award: dict[str, Any] = {"id": f"{contract.id}-award", "status": "active"}
    item: dict[str, Any] = {"id": str(contract.id), "awardID": award["id"]}
    if source.shows("contract.parties"):
        roles: dict[str, list[str]] = {}
        for party in terms["parties"]:
            roles.setdefault(party["organisation_id"], [])
            for role in ROLES.get(party["role"], ()):
                if role not in roles[party["organisation_id"]]:
                    roles[party["organisation_id"]].append(role)
        doc["parties"] = [p for org, r in roles.items() if (p := _party(source, org, r)) is not None]
        payers = [p["organisation_id"] for p in terms["parties"] if p["role"] == "outcome_payer"]
        if payers and (buyer := _reference(source, payers[0])) is not None:
            doc["buyer"] = buyer
        suppliers = [
            ref
            for p in terms["parties"]
            if p["role"] == "provider" and (ref := _reference(source, p["organisation_id"])) is not None
        ]
        if suppliers:
            award["suppliers"] = suppliers
    if source.shows("contract.title"):
        item["title"] = terms["title"]
    if source.shows("contract.target_group") and terms.get("target_group"):
        item["description"] = terms["target_group"]
    if source.shows("contract.period"):
        item["status"] = _contract_status(version)
        item["period"] = {"startDate": _day(terms["start_date"]), "endDate": _day(terms["end_date"])}
    cap = terms.get("caps", {}).get("contract_total")
    if source.shows("contract.caps") and cap is not None:
        item["value"] = {"amount": number(cap), "currency": terms["currency"]}
    if source.shows("contract.signatories", "contract.parties") and version.signatures:
        item["dateSigned"] = _when(max(s.signed_at for s in version.signatures))
        item["signatories"] = [
            ref for s in version.signatures if (ref := _reference(source, str(s.organisation_id))) is not None
        ]
    if source.shows("contract.outcome_metrics"):
        item["milestones"] = [
            {
                "id": o["code"],
                "title": o["name"],
                "type": "delivery",
                "code": o["code"],
                **({"description": o["description"]} if o.get("description") else {}),
                "status": "scheduled",
            }
            for o in terms["outcomes"]
        ]
    if source.shows("contract.amendments") and index > 0:
        item["amendments"] = [_amendment(source, contract, i) for i in range(1, index + 1)]
    doc["awards"] = [award]
    doc["contracts"] = [item]
    return doc


def _amendment(source: Source, contract: ContractFacts, index: int) -> dict[str, Any]:
    before, after = contract.versions[index - 1], contract.versions[index]
    diff = diff_documents(dict(before.terms), dict(after.terms))
    changed = sorted(
        entry["path"]
        for kind in ("added", "removed", "changed")
        for entry in diff[kind]
        if (block := block_of(entry["path"])) is not None and block in source.public
    )
    amendment: dict[str, Any] = {
        "id": str(after.id),
        "date": _when(after.activated_at),
        "description": f"Version {after.number} amends version {before.number}"
        + (f"; changed: {', '.join(changed)}" if changed else ""),
        "amendsReleaseID": release_id(contract, before),
        "releaseID": release_id(contract, after),
    }
    if after.rationale:
        amendment["rationale"] = after.rationale
    return amendment


def compile_releases(releases: list[dict[str, Any]]) -> dict[str, Any]:
    """The compiled release: OCDS's merge rules for what these releases hold — later values win, arrays
    of objects with an `id` merge by id, other arrays are replaced whole; `id`, `date` and `tag` name the
    compilation (`tag` `compiled`)."""
    compiled: dict[str, Any] = {}
    for r in releases:
        _merge(compiled, {k: v for k, v in r.items() if k not in ("id", "date", "tag")})
    last = max(r["date"] for r in releases)
    return {**compiled, "id": f"{releases[0]['ocid']}-{last}", "date": last, "tag": ["compiled"]}


def _merge(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif (
            isinstance(value, list)
            and isinstance(into.get(key), list)
            and all(isinstance(v, dict) and "id" in v for v in value + into[key])
        ):
            by_id = {item["id"]: item for item in into[key]}
            for item in value:
                if item["id"] in by_id:
                    _merge(by_id[item["id"]], item)
                else:
                    by_id[item["id"]] = dict(item)
            into[key] = list(by_id.values())
        else:
            into[key] = value


def _package_meta(source: Source, uri: str, published: datetime) -> dict[str, Any]:
    return {
        "uri": uri,
        "version": OCDS_VERSION,
        "publishedDate": _when(published),
        "publisher": {"name": "Effekt", "uri": source.base_url},
        "extensions": [SIGNATORIES_EXTENSION],
    }


def record_package(
    source: Source, contract: ContractFacts, *, uri: str, published: datetime
) -> dict[str, Any]:
    """The contract's record package: every release embedded, and the compiled release."""
    releases = [release(source, contract, i) for i in range(len(contract.versions))]
    record = {
        "ocid": ocid(source, contract),
        "releases": releases,
        "compiledRelease": compile_releases(releases),
    }
    return {**_package_meta(source, uri, published), "records": [record]}
