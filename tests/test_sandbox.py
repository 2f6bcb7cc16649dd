"""The sandbox's pure pieces agree with the services they stand in front of: its identifiers pass the
services' parsers, its scope lists are identity's, its standard terms are a coherent document, and its
kept template databases are named after what their schema follows from."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from effekt.launcher import Service
from effekt.sandbox.identifiers import century_digits, cpr, cvr, sequential_cpr, synthetic_cpr
from effekt.sandbox.platform import _schema_digest
from effekt.sandbox.signin import MACHINE_SCOPES, PERSON_ONLY_SCOPES, USER_SCOPES
from effekt.sandbox.terms import Parties, caps, outcome, standard_terms
from services.contracts.terms import check_terms, parse_terms, proposal_issues
from services.identity.directory.identifiers import valid_cvr
from services.identity.oauth.scopes import SCOPES, USER_ONLY_SCOPES
from services.outcomes.cpr import parse_cpr

TODAY = datetime.now(UTC).date()


@given(st.dates(min_value=date(1858, 1, 1), max_value=date(2057, 12, 31)), st.integers(0, 3999))
def test_a_cpr_number_encodes_the_birth_date_it_was_made_for(born: date, serial: int) -> None:
    number = cpr(born, serial)
    assert parse_cpr(number).birth_date == born
    assert re.fullmatch("[0-9]{10}", number)


def test_every_birth_year_the_cpr_rules_cover_has_at_least_4000_serials() -> None:
    assert all(len(century_digits(year)) >= 4 for year in range(1858, 2058))
    assert century_digits(1857) == century_digits(2058) == ()


def test_synthetic_cpr_numbers_are_valid_with_a_birth_date_of_their_own_per_index() -> None:
    numbers = [synthetic_cpr(i) for i in range(900)]
    births = {parse_cpr(n, today=TODAY).birth_date for n in numbers}
    assert len(births) == len(numbers)
    assert parse_cpr(synthetic_cpr(3, born=date(1961, 2, 3))).birth_date == date(1961, 2, 3)


def test_sequential_cpr_numbers_are_valid_and_distinct() -> None:
    numbers = [sequential_cpr(i) for i in range(40_000)]
    assert len(set(numbers)) == len(numbers)
    for number in numbers[::997]:
        parse_cpr(number)


def test_cvr_numbers_pass_identitys_modulus_11_check() -> None:
    assert all(valid_cvr(cvr()) for _ in range(500))


def test_the_scope_lists_are_identitys() -> None:
    assert USER_SCOPES.split() == list(SCOPES)
    assert PERSON_ONLY_SCOPES == USER_ONLY_SCOPES
    assert set(MACHINE_SCOPES.split()) == set(SCOPES) - USER_ONLY_SCOPES


def test_the_standard_terms_are_coherent_and_ready_to_propose() -> None:
    terms = parse_terms(standard_terms(Parties(*(uuid4() for _ in range(4)))))
    assert check_terms(terms) == []
    assert proposal_issues(terms) == []
    assert terms.start_date < TODAY < terms.end_date


def test_an_override_replaces_a_whole_field_in_place_and_a_new_field_comes_last() -> None:
    parties = Parties(*(uuid4() for _ in range(4)))
    plain = standard_terms(parties)
    changed = standard_terms(
        parties,
        caps=caps("1.00", None),
        outcomes=[outcome("job_start", "1.00")],
        termination={"notice_days": 30},
    )
    assert list(changed) == [*plain, "termination"]
    assert changed["caps"] == {"per_participant": "1.00", "contract_total": None, "per_period": None}
    assert [o["code"] for o in changed["outcomes"]] == ["job_start"]
    assert {k: v for k, v in changed.items() if k not in ("caps", "outcomes", "termination", "title")} == {
        k: v for k, v in plain.items() if k not in ("caps", "outcomes", "title")
    }


def test_the_investor_signs_only_when_asked() -> None:
    parties = Parties(*(uuid4() for _ in range(4)))
    signing = {p["role"]: p["must_sign"] for p in standard_terms(parties, investor_signs=True)["parties"]}
    assert signing == {"outcome_payer": True, "provider": True, "investor": True}
    assert standard_terms(parties)["parties"][-1] == {
        "organisation_id": str(parties.investor),
        "role": "investor",
        "must_sign": False,
    }


def test_the_dates_follow_the_given_day() -> None:
    day = date(2030, 6, 1)
    terms = standard_terms(Parties(*(uuid4() for _ in range(4))), today=day)
    assert terms["start_date"] == (day - timedelta(days=3 * 365)).isoformat()
    assert terms["end_date"] == (day + timedelta(days=2 * 365)).isoformat()


@dataclass(frozen=True)
class _CopiedService(Service):
    """A service whose alembic environment is a copy under `root` (see the test below)."""

    root: Path = Path()

    @property
    def alembic_ini(self) -> Path:
        return self.root / "services" / self.name / "alembic.ini"


def test_a_kept_template_is_named_after_everything_its_schema_follows_from(tmp_path: Path) -> None:
    """Kept templates (effekt/sandbox/platform.py) are found by this digest: an edited migration, the
    shared migration code or a module a migration imports names another template; other code does not."""
    repo = Path(__file__).parents[1]
    for package in ("kit", "services/outcomes"):
        shutil.copytree(repo / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    outcomes = _CopiedService("outcomes", "", 0, "OUTCOMES_", root=tmp_path)
    first = _schema_digest(outcomes)
    migration = sorted((tmp_path / "services/outcomes/migrations/versions").glob("*.py"))[-1]
    for path in (
        migration,
        tmp_path / "services/outcomes/migrations/env.py",
        tmp_path / "services/outcomes/alembic.ini",
        tmp_path / "kit/migrations.py",
        tmp_path / "services/outcomes/pseudonyms.py",  # imported by the secrets' encryption migration
        tmp_path / "kit/settings.py",  # imported by services/outcomes/settings.py, which that one imports
    ):
        original = path.read_bytes()
        path.write_bytes(original + b"\n# edited\n")
        assert _schema_digest(outcomes) != first, path
        path.write_bytes(original)
        assert _schema_digest(outcomes) == first
    app = tmp_path / "services/outcomes/app.py"  # imported by no migration
    app.write_bytes(app.read_bytes() + b"\n# edited\n")
    assert _schema_digest(outcomes) == first
    assert re.fullmatch("[0-9a-f]{16}", first)
