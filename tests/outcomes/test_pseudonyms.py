"""Keyed pseudonyms: stable per partnership, unlinkable across partnerships, found across key rotation."""

from __future__ import annotations

from uuid import uuid4

import pytest
from cryptography.exceptions import InvalidTag

from services.outcomes.pseudonyms import PartnershipKeys

CPR = "0101900123"


def test_the_same_person_gets_the_same_pseudonym_in_one_partnership() -> None:
    ring, partnership = PartnershipKeys({1: b"secret-one"}), uuid4()
    assert ring.pseudonym(CPR, partnership) == ring.pseudonym(CPR, partnership)
    assert CPR not in ring.pseudonym(CPR, partnership).value


def test_pseudonyms_differ_between_partnerships_and_secrets() -> None:
    a, b = uuid4(), uuid4()
    ring = PartnershipKeys({1: b"secret-one"})
    assert ring.pseudonym(CPR, a).value != ring.pseudonym(CPR, b).value
    assert ring.pseudonym(CPR, a).value != PartnershipKeys({1: b"secret-two"}).pseudonym(CPR, a).value


def test_after_rotation_new_pseudonyms_use_the_new_version_and_old_ones_are_still_found() -> None:
    partnership = uuid4()
    old = PartnershipKeys({1: b"secret-one"}).pseudonym(CPR, partnership)
    rotated = PartnershipKeys({1: b"secret-one", 2: b"secret-two"})
    assert rotated.pseudonym(CPR, partnership).key_version == 2
    assert old in rotated.all_pseudonyms(CPR, partnership)


def test_a_municipal_reference_decrypts_only_for_its_participant_and_municipality() -> None:
    ring, partnership, participant = PartnershipKeys({1: b"secret-one"}), uuid4(), uuid4()
    version, blob = ring.encrypt_reference(
        "J.nr. 2027-0042", partnership_id=partnership, participant_id=participant, municipality_code="657"
    )
    assert b"2027-0042" not in blob
    kwargs = {"version": version, "partnership_id": partnership, "participant_id": participant}
    assert ring.decrypt_reference(blob, municipality_code="657", **kwargs) == "J.nr. 2027-0042"  # type: ignore[arg-type]
    with pytest.raises(InvalidTag):
        ring.decrypt_reference(blob, municipality_code="791", **kwargs)  # type: ignore[arg-type]


def test_a_version_can_be_known_before_it_becomes_current() -> None:
    partnership = uuid4()
    staged = PartnershipKeys({1: b"secret-one", 2: b"secret-two"}, current=1)
    assert staged.pseudonym(CPR, partnership).key_version == 1
    written_by_a_rotated_replica = PartnershipKeys({1: b"secret-one", 2: b"secret-two"}).pseudonym(
        CPR, partnership
    )
    assert written_by_a_rotated_replica in staged.all_pseudonyms(CPR, partnership)
    with pytest.raises(ValueError, match="current"):
        PartnershipKeys({1: b"secret-one"}, current=2)


def test_a_webhook_secret_decrypts_only_for_its_subscription_and_partnership() -> None:
    ring, partnership, subscription = PartnershipKeys({1: b"secret-one"}), uuid4(), uuid4()
    version, blob = ring.encrypt_webhook_secret(
        "whsec_c2VjcmV0", partnership_id=partnership, subscription_id=subscription
    )
    assert b"whsec_" not in blob
    assert b"c2VjcmV0" not in blob
    assert (
        ring.decrypt_webhook_secret(
            blob, version=version, partnership_id=partnership, subscription_id=subscription
        )
        == "whsec_c2VjcmV0"
    )
    for other in (
        {"partnership_id": uuid4(), "subscription_id": subscription},
        {"partnership_id": partnership, "subscription_id": uuid4()},
    ):
        with pytest.raises(InvalidTag):
            ring.decrypt_webhook_secret(blob, version=version, **other)
    # Not interchangeable with a municipal reference under the same partnership key.
    with pytest.raises(InvalidTag):
        ring.decrypt_reference(
            blob,
            version=version,
            partnership_id=partnership,
            participant_id=subscription,
            municipality_code="",
        )
    rotated = PartnershipKeys({1: b"secret-one", 2: b"secret-two"})
    assert (
        rotated.encrypt_webhook_secret("x", partnership_id=partnership, subscription_id=subscription)[0] == 2
    )
    assert (
        rotated.decrypt_webhook_secret(
            blob, version=1, partnership_id=partnership, subscription_id=subscription
        )
        == "whsec_c2VjcmV0"
    )
