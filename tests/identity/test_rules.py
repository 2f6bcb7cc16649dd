"""The identity service's pure rules: CVR numbers and password strength."""

from __future__ import annotations

import pytest

from effekt.sandbox.identifiers import cvr as random_cvr
from kit.settings import InsecureConfiguration
from services.identity.credentials import password_problems
from services.identity.directory.identifiers import valid_cvr
from services.identity.settings import Settings


@pytest.mark.parametrize("cvr", ["10000009", "10150817", "29189919"])
def test_real_and_constructed_cvr_numbers_pass_the_modulus_11_check(cvr: str) -> None:
    assert valid_cvr(cvr)


@pytest.mark.parametrize("cvr", ["10000008", "29189918", "1234567", "123456789", "0000000O", "01000009", ""])
def test_cvr_numbers_with_a_wrong_check_digit_or_shape_are_invalid(cvr: str) -> None:
    assert not valid_cvr(cvr)


def test_generated_test_cvr_numbers_are_valid() -> None:
    assert all(valid_cvr(random_cvr()) for _ in range(200))


@pytest.mark.parametrize(
    "password",
    ["Correct-Horse-Battery-9", "a very long passphrase of plain words", "Tr0ub4dor&3xyz"],
)
def test_strong_passwords_are_accepted(password: str) -> None:
    assert password_problems(password, email="anna@herning.dk", display_name="Anna Jensen") == []


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("Sh0rt!", "at least 12 characters"),
        ("onlylowercasexyz", "mix at least three"),
        ("Password1234", "too common"),
        ("Anna-Jensen-2026", "your name or e-mail"),
        ("herning-Anna#99", "your name or e-mail"),
        ("Aa1!Aa1!Aa1!Aa1!", "too common or repetitive"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, expected: str) -> None:
    problems = password_problems(password, email="anna@herning.dk", display_name="Anna Jensen")
    assert any(expected in p for p in problems), problems


def test_only_development_gets_a_default_operator() -> None:
    assert Settings(environment="development").bootstrap_operator_client_id == "effekt-dev-operator"
    assert Settings(environment="test").bootstrap_operator_client_id is None
    production = Settings(environment="production", secret_key="s" * 40, migrate_on_start=False)
    assert production.bootstrap_operator_client_secret is None


def test_production_refuses_a_short_bootstrap_secret() -> None:
    with pytest.raises(InsecureConfiguration):
        Settings(
            environment="production",
            secret_key="s" * 40,
            migrate_on_start=False,
            bootstrap_operator_client_id="op",
            bootstrap_operator_client_secret="short",
        )
