"""The identity service's problems (RFC 9457). OAuth endpoints answer with RFC 6749 errors instead.

NotFound       -> OrganisationNotFound, UserNotFound, PartnershipNotFound, MembershipNotFound,
                  MembershipGrantNotFound, ClientNotFound, SigningKeyNotFound
Forbidden      -> NotOrganisationAdmin, NotPartnershipManager, OperatorOnly, OwnMembership, ConsentRequired
Conflict       -> EmailTaken, MembershipExists, MembershipGrantPending, MembershipGrantSettled,
                  PartnershipClosed, LastSigningKey
Unauthorized   -> WrongPassword
Unprocessable  -> InvalidCvr, InvalidIdentifier, WeakPassword, InvalidRedirectUri, ScopeNotAllowed
PreconditionFailed -> VersionMismatch (kit.versions, shared by the services)
"""

from kit.problems import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable


class OrganisationNotFound(NotFound):
    code, title = "organisation-not-found", "No such organisation"


class UserNotFound(NotFound):
    code, title = "user-not-found", "No such user"


class PartnershipNotFound(NotFound):
    code, title = "partnership-not-found", "No such partnership"


class MembershipNotFound(NotFound):
    code, title = "membership-not-found", "No such membership"


class MembershipGrantNotFound(NotFound):
    code, title = "membership-grant-not-found", "No such membership grant"


class ClientNotFound(NotFound):
    code, title = "client-not-found", "No such OAuth2 client"


class SigningKeyNotFound(NotFound):
    code, title = "signing-key-not-found", "No such signing key"


class OperatorOnly(Forbidden):
    code, title = "operator-only", "Only the platform operator may do this"


class NotOrganisationAdmin(Forbidden):
    code, title = "not-organisation-admin", "Only the organisation's admins may do this"


class NotPartnershipManager(Forbidden):
    code, title = "not-partnership-manager", "Only the partnership's outcome payer or an operator may do this"


class OwnMembership(Forbidden):
    code, title = "own-membership", "No organisation grants, widens or changes its own membership"


class ConsentRequired(Forbidden):
    code, title = (
        "consent-required",
        "A person-level role needs the operator or every outcome payer's consent",
    )


class EmailTaken(Conflict):
    code, title = "email-taken", "A user with this e-mail address exists"


class MembershipExists(Conflict):
    code, title = "membership-exists", "The organisation already holds this role in the partnership"


class MembershipGrantPending(Conflict):
    code, title = "membership-grant-pending", "A grant of this role to the organisation awaits consent"


class MembershipGrantSettled(Conflict):
    code, title = "membership-grant-settled", "The membership grant was already granted or declined"


class PartnershipClosed(Conflict):
    code, title = "partnership-closed", "The partnership is closed"


class LastSigningKey(Conflict):
    code, title = "last-signing-key", "The active signing key cannot be retired; rotate first"


class WrongPassword(Unauthorized):
    code, title = "wrong-password", "The current password is wrong"


class InvalidCvr(Unprocessable):
    code, title = "invalid-cvr", "Not a valid CVR number"


class InvalidIdentifier(Unprocessable):
    code, title = "invalid-identifier", "Not an organisation identifier of a scheme this service checks"


class WeakPassword(Unprocessable):
    code, title = "weak-password", "The password is too weak"


class InvalidRedirectUri(Unprocessable):
    code, title = "invalid-redirect-uri", "Not an acceptable redirect URI"


class ScopeNotAllowed(Unprocessable):
    code, title = "scope-not-allowed", "A requested scope is not one this platform offers"
