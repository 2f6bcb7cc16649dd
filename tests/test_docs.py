"""The docs match the code (issue 16): the offline verification recipe runs as written against a real
export and catches an edit; every example command uses only what a stock Debian machine has (plus `curl`
and `jq`, whose install the docs state); the event catalogue is a valid AsyncAPI 3.0 document and the
prose catalogue lists exactly its types."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import sys
import warnings
from asyncio.subprocess import PIPE
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT7

from effekt.launcher import Platform
from effekt.sandbox.identifiers import synthetic_cpr
from tests.actors import Cast
from tests.browser.support import PHOTOGRAPHED
from tests.outcomes.integrations.published import BASE, catalogue, catalogued_types
from tests.outcomes.integrations.support import ledger_engine, write_events
from tests.outcomes.support import TODAY, active_contract, confirm, employment_terms, enrol

ROOT = Path(__file__).parents[1]
DOCS = sorted([*ROOT.joinpath("docs").rglob("*.md"), ROOT / "README.md"])
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def marked_block(path: Path, marker: str) -> str:
    """The fenced block right after `<!-- marker -->` in a markdown file."""
    text = path.read_text()
    match = FENCE.search(text, text.index(f"<!-- {marker} -->"))
    assert match is not None, marker
    return match.group(2)


# --- the verification recipe, as written ------------------------------------------------------------------


async def bash(script: str, cwd: Path, env: dict[str, str]) -> tuple[int | None, str, str]:
    process = await asyncio.create_subprocess_exec(
        "bash", "-euo", "pipefail", "-c", script, cwd=cwd, env=env, stdout=PIPE, stderr=PIPE
    )
    out, err = await process.communicate()
    return process.returncode, out.decode(), err.decode()


async def test_the_offline_recipe_runs_as_written_against_a_real_export(
    platform: Platform, cast: Cast, contracts: httpx.AsyncClient, outcomes: httpx.AsyncClient, tmp_path: Path
) -> None:
    contract_id, _ = await active_contract(contracts, cast, employment_terms(cast))
    person = await enrol(
        outcomes,
        cast.provider,
        cast,
        contract_id,
        synthetic_cpr(1),
        municipality_code="657",
        enrolment_date=TODAY - timedelta(days=10),
        cohort="Århus Æblegård 2026",  # non-ASCII, as UTF-8 in the hashed bytes
    )
    await confirm(outcomes, cast.payer_a, person["id"])
    async with ledger_engine(platform) as engine:
        await write_events(engine, cast.partnership_id, 5)
    page = "docs/integrations/investor-system.md"
    (tmp_path / "verify_ledger.py").write_text(marked_block(ROOT / page, "verify-ledger.py"))
    shell = marked_block(ROOT / page, "export-and-verify")
    # `python3` in the block stands for Debian's: the interpreter running the tests, isolated from any
    # installed package (-I -S), so the script can only use the standard library.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -I -S "$@"\n')
    (bin_dir / "python3").chmod(0o755)
    # The investor's export seals the two person-level events; the provider's discloses them, with salts.
    for token in (cast.investor_machine.token, cast.provider.token):
        env = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "TOKEN": token,
            "OUTCOMES": platform.url("outcomes"),
            "P": str(cast.partnership_id),
        }
        code, out, err = await bash(shell, tmp_path, env)
        assert code == 0, err
        headers = (tmp_path / "headers.txt").read_text()
        last_hash = re.search(r"(?im)^ledger-last-hash: (\w+)", headers)
        assert last_hash is not None
        assert out.splitlines()[0] == f"intact: 7 events, last hash {last_hash.group(1)}"
    assert "Æblegård" in (tmp_path / f"ledger-{cast.partnership_id}.ndjson").read_text()  # the provider's

    export = tmp_path / f"ledger-{cast.partnership_id}.ndjson"
    lines = export.read_text().splitlines()
    for n, edit in ((1, ("Århus", "Aarhus")), (6, ('"n":3', '"n":4'))):  # any edit is caught offline
        tampered = lines.copy()
        tampered[n - 1] = tampered[n - 1].replace(*edit)
        assert tampered != lines
        export.write_text("\n".join(tampered) + "\n")
        code, _, err = await bash(f"python3 verify_ledger.py {shlex.quote(export.name)}", tmp_path, env)
        assert code == 1
        assert f"broken at line {n}" in err


# --- example commands ---------------------------------------------------------------------------------------

# What a stock Debian 12 has (coreutils, bash, python3 3.11), plus curl and jq, whose install every page
# that uses them states; `.venv/bin/...` are the project's own, made by the README's first command.
STOCK = {"python3", "cat", "echo", "export", "grep", "head", "tail", "sed", "tr", "printf", "mkdir", "cd"}
INSTALLED = {"curl", "jq"}
INSTALL_NOTE = r"apt-get install[^`\n]*\b{}\b"


def commands(block: str) -> list[str]:
    """The program each command of a shell block runs (continuations joined, comments and output dropped,
    `$(...)` and pipelines looked into)."""
    text = re.sub(r"\\\n", " ", block)
    found = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        for part in re.split(r"\$\(|\||&&|;", line):
            try:
                tokens = shlex.split(part)
            except ValueError:  # a quote opened before a `$(`: the words are enough
                tokens = part.split()
            words = [w for w in tokens if not re.fullmatch(r"[A-Za-z_]+=.*", w, re.DOTALL)]
            if words and re.fullmatch(r"[\w./-]+", words[0]):
                found.append(words[0])
    return found


def shell_blocks(path: Path) -> list[str]:
    return [body for lang, body in FENCE.findall(path.read_text()) if lang in ("sh", "bash", "shell")]


def test_example_commands_need_only_stock_debian_and_the_tools_the_page_names() -> None:
    used: dict[str, set[str]] = {}
    for path in DOCS:
        text, where = path.read_text(), str(path.relative_to(ROOT))
        for block in shell_blocks(path):
            for program in commands(block):
                used.setdefault(program, set()).add(where)
                if program.startswith(".venv/bin/"):
                    continue
                assert program in STOCK | INSTALLED, f"{where}: `{program}` is not on a stock Debian machine"
                if program in INSTALLED:
                    note = INSTALL_NOTE.format(program)
                    assert re.search(note, text), f"{where} uses `{program}` without saying to install it"
            if "python3 -m venv" in block:  # Debian's python3 has no ensurepip without python3-venv
                venv = INSTALL_NOTE.format("python3-venv")
                assert re.search(venv, text), f"{where}: `python3 -m venv` needs python3-venv on Debian"
    assert "curl" in used  # the scan reads the blocks at all


def test_json_bodies_in_curl_examples_say_they_are_json() -> None:
    for path in DOCS:
        for block in shell_blocks(path):
            for command in re.sub(r"\\\n", " ", block).split("\n"):
                if "curl" in command and re.search(r"-d '\{", command):
                    assert "Content-Type: application/json" in command, f"{path.name}: {command.strip()}"


# --- the event catalogue ------------------------------------------------------------------------------------


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_the_catalogue_is_a_valid_asyncapi_3_document() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the parser's models shadow pydantic's `schema`
        from asyncapi3 import AsyncAPI3

    document = catalogue()
    assert document["asyncapi"] == "3.0.0"
    AsyncAPI3.model_validate(document)  # the independent parser: structure, fields, actions
    resolver = Registry().with_resource(BASE, Resource.from_contents(document, DRAFT7)).resolver(BASE)
    for ref in _refs(document):  # every reference resolves (the parser does not follow them)
        try:
            resolver.lookup(ref)
        except Unresolvable as exc:
            raise AssertionError(f"{ref} does not resolve") from exc
    for schema in document["components"]["schemas"].values():
        Draft7Validator.check_schema(schema)
    for message in document["components"]["messages"].values():
        Draft7Validator.check_schema(message["payload"])
    channels = document["channels"]
    assert set(channels["feed"]["messages"]) == set(channels["webhook"]["messages"])
    assert set(channels["stream"]["messages"]) == set(channels["feed"]["messages"]) | {
        "tokenExpired",
        "tokenRevoked",
    }
    assert set(catalogued_types(document).values()) == set(channels["feed"]["messages"])


def test_the_prose_catalogue_lists_exactly_the_catalogued_types() -> None:
    prose = (ROOT / "docs/integrations/events.md").read_text()
    listed = set(re.findall(r"^\| `(dk\.effekt\.[a-z_.]+)` \|", prose, re.MULTILINE))
    assert listed == set(catalogued_types(catalogue()))


def test_the_catalogue_rejects_what_the_service_never_sends() -> None:
    """The schemas are strict enough to catch a changed event: a data field added without the catalogue,
    a sequence as a number, an actor as an attribute."""
    document = catalogue()
    registry: Registry[Any] = Registry().with_resource(BASE, Resource.from_contents(document, DRAFT7))
    validator = Draft7Validator(
        {"$ref": f"{BASE}#/components/messages/claimDisputed/payload"}, registry=registry
    )
    uid = "5f0c3a52-0d7f-4d55-9a57-2b8a3c8e1d10"
    event = json.loads(
        json.dumps(
            {
                "specversion": "1.0",
                "id": uid,
                "source": f"https://effekt.dk/outcomes/partnerships/{uid}",
                "type": "dk.effekt.claim.disputed",
                "subject": f"outcome-claims/{uid}",
                "time": "2026-12-03T08:00:00.000000Z",
                "datacontenttype": "application/json",
                "partnershipid": uid,
                "sequence": "0000000000000000007",
                "ledgerhash": "a" * 64,
                "ledgerprevhash": "b" * 64,
                "data": {
                    "actor": {
                        "organisation_id": uid,
                        "partner_type": "provider",
                        "kind": "user",
                        "subject": "s",
                    },
                    "claim_id": uid,
                    "reason": "Payslip attached",
                },
            }
        )
    )
    assert not list(validator.iter_errors(event))
    changes: tuple[Callable[[dict[str, Any]], object], ...] = (
        lambda e: e["data"].update(amount="1.00"),
        lambda e: e.update(sequence=7),
        lambda e: e.update(actor=e["data"].pop("actor")),
        lambda e: e["data"].update(claim_id="not-a-uuid"),
    )
    for change in changes:
        changed = json.loads(json.dumps(event))
        change(changed)
        assert list(validator.iter_errors(changed)), changed


def test_the_partner_ui_guide_shows_each_photographed_partner_types_console() -> None:
    """The browser test photographs each partner type's console view (screenshots.py runs it into the
    folder); the guide links every one of those pictures and each is there, a PNG."""
    guide = (ROOT / "docs" / "integrations" / "partner-ui.md").read_text()
    folder = ROOT / "examples" / "partner-console" / "screenshots"
    linked = set(re.findall(r"\(\.\./\.\./examples/partner-console/screenshots/([a-z_]+)\.png\)", guide))
    assert linked == set(PHOTOGRAPHED)
    for partner_type in PHOTOGRAPHED:
        assert (folder / f"{partner_type}.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), partner_type
