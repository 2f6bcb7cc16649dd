"""Who may change a partnership and its members: the rules as named tables, read by the service and by
the tests. Pure; the caller looks up the facts (the caller's roles, the partnership's outcome payers).

- No organisation grants, widens or changes its own membership — not even the operator's organisation.
  The only change an organisation makes to itself is leaving: removing its own membership, except as an
  outcome payer (a payer's leaving changes whose consent later grants need, and ends a paying party's
  place under signed contracts: the operator does that).
- A role that reaches person-level data (`PERSON_LEVEL_ROLES`) is granted by the operator, or by a
  membership grant that every outcome payer then in the partnership has consented to; it takes effect
  with the last consent, and never on the grantee's consent alone.
- The other roles are granted by the operator or by any of the partnership's outcome payers directly.
- Removing another organisation's membership, and renaming, describing or closing a partnership, are the
  operator's.

Every role has exactly one way in (`GRANT_PATH`); a role missing from it is an error, never a default.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Set
from typing import Final


class GrantPath(enum.StrEnum):
    # `POST /memberships` by the operator or an outcome payer.
    DIRECT = "direct"
    # `POST /memberships` by the operator, else a membership grant every outcome payer consents to.
    CONSENT = "consent"


MANAGING_ROLE: Final = "outcome_payer"

# Roles whose members list participants and claims (the outcome service's rule).
PERSON_LEVEL_ROLES: Final = frozenset({"outcome_payer", "provider", "evaluator"})

GRANT_PATH: Final[dict[str, GrantPath]] = {
    "outcome_payer": GrantPath.CONSENT,
    "provider": GrantPath.CONSENT,
    "evaluator": GrantPath.CONSENT,
    "investor": GrantPath.DIRECT,
    "adviser": GrantPath.DIRECT,
    "observer": GrantPath.DIRECT,
}

# Roles an organisation may give up by itself (everything but the outcome payer's).
LEAVABLE_ROLES: Final = frozenset(GRANT_PATH) - {MANAGING_ROLE}


def grant_path(role: str) -> GrantPath:
    try:
        return GRANT_PATH[role]
    except KeyError:
        raise ValueError(f"no grant path for role {role!r}") from None


def consents_complete(payers: Set[uuid.UUID], consented: Set[uuid.UUID], grantee: uuid.UUID) -> bool:
    """Every current outcome payer consented, and at least one of them is not the grantee: a grant needs
    someone's decision besides the organisation it widens (it matters when the proposer has left)."""
    return bool(payers - {grantee}) and payers <= consented
