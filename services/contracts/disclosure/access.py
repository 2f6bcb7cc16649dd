"""Who may do what with a partnership's disclosure (the one home of these rules).

| action                                      | who                                                        |
| ------------------------------------------- | ---------------------------------------------------------- |
| read the statuses, their audit, the exports | every member (observers included), the operator            |
| change a status or the small-cell threshold | the partnership's outcome payers                           |
| publish (refresh the public read's results) | the partnership's outcome payers                           |
| the public read                             | anyone, without a token: only `public` blocks              |
"""

from __future__ import annotations

from uuid import UUID

from kit.auth import Principal
from services.contracts.errors import NotAnOutcomePayer, PartnershipNotFound

SETTERS = frozenset({"outcome_payer"})


def may_read(principal: Principal, partnership_id: UUID) -> bool:
    return principal.is_operator or principal.is_member(partnership_id)


def require_reader(principal: Principal, partnership_id: UUID) -> None:
    if not may_read(principal, partnership_id):
        # As for a contract: a partnership you are not in is not shown to exist.
        raise PartnershipNotFound(f"no partnership {partnership_id} that you can read")


def require_setter(principal: Principal, partnership_id: UUID) -> None:
    require_reader(principal, partnership_id)
    if not principal.roles_in(partnership_id) & SETTERS:
        raise NotAnOutcomePayer(
            "the outcome payers decide what the partnership publishes", required_roles=sorted(SETTERS)
        )
