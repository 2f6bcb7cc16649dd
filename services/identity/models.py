"""The identity service's tables: the directory (organisations, users, partnerships, memberships, OAuth2
clients), the authorisation server's state (signing keys, authorisation codes, refresh tokens, revoked
access tokens, token epochs) and the audit log.

`token_epoch` on organisations, users and clients: every access token carries the epochs of its
organisation, client and user; a change that alters what those tokens say, or whether they may be used,
bumps the subject's epoch in its own transaction, so every token issued before it is refused
(services/identity/revocations/)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from kit.idempotency import idempotency_table
from kit.partners import MEMBERSHIP_ROLES, PARTNER_TYPES
from services.identity.db import Base

idempotency_keys = idempotency_table(Base.metadata)  # kit's sweep and housekeeping delete by age


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def _epoch() -> Any:
    return mapped_column(Integer, server_default=text("0"), nullable=False)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (
        CheckConstraint(_one_of("partner_type", PARTNER_TYPES), name="partner_type"),
        CheckConstraint("cvr ~ '^[0-9]{8}$'", name="cvr_digits"),
        CheckConstraint("identifier ~ '^[A-Z]{2}-[A-Z0-9]{2,6}-[A-Z0-9]+$'", name="identifier_form"),
        # `cvr` is the Danish identifier's number, kept for the APIs that read it; no one else has one.
        CheckConstraint(
            "identifier = 'DK-CVR-' || cvr OR (cvr IS NULL AND identifier NOT LIKE 'DK-CVR-%')",
            name="cvr_identifier",
        ),
        # A municipality code belongs to municipalities and every municipality has one.
        CheckConstraint(
            "(partner_type = 'municipality') = (municipality_code IS NOT NULL)", name="municipality_code"
        ),
        CheckConstraint("municipality_code ~ '^[0-9]{3}$'", name="municipality_code_digits"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    partner_type: Mapped[str] = mapped_column(String(20), index=True)
    # Not unique: one legal entity (one identifier, one municipality code) may register several units,
    # e.g. a municipality's job centre and its social services, each its own partner.
    # org-id style `<scheme>-<identifier>` (services/identity/directory/identifiers.py).
    identifier: Mapped[str] = mapped_column(String(80), index=True)
    cvr: Mapped[str | None] = mapped_column(String(8), index=True)
    municipality_code: Mapped[str | None] = mapped_column(String(3))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    token_epoch: Mapped[int] = _epoch()
    created_at: Mapped[datetime] = _now()


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("org_role IN ('admin', 'member', 'signatory')", name="org_role"),
        # E-mail addresses are unique whatever their case.
        Index("uq_users_email_lower", func.lower(text("email")), unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200))
    org_role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    # A disabled user cannot sign in, refresh or redeem a code; its tokens are superseded when disabled.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    token_epoch: Mapped[int] = _epoch()
    created_at: Mapped[datetime] = _now()


class Partnership(Base):
    __tablename__ = "partnerships"
    __table_args__ = (CheckConstraint("status IN ('active', 'closed')", name="status"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, server_default="")
    status: Mapped[str] = mapped_column(String(20), server_default="active")
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = _now()


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("partnership_id", "organisation_id", "role"),
        CheckConstraint(_one_of("role", MEMBERSHIP_ROLES), name="role"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partnership_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partnerships.id"), index=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = _now()


class MembershipGrant(Base):
    """A proposed membership with a person-level role, waiting for every outcome payer's consent
    (services/identity/partnerships/access.py); `granted` names the membership it became."""

    __tablename__ = "membership_grants"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'granted', 'declined')", name="status"),
        CheckConstraint(
            "role IN ('outcome_payer', 'provider', 'investor', 'evaluator', 'adviser', 'observer')",
            name="role",
        ),
        CheckConstraint("(status = 'granted') = (membership_id IS NOT NULL)", name="granted_membership"),
        CheckConstraint("(status = 'pending') = (settled_at IS NULL)", name="settled"),
        # One open proposal per organisation and role in a partnership.
        Index(
            "uq_membership_grants_pending",
            "partnership_id",
            "organisation_id",
            "role",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    partnership_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partnerships.id"), index=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    role: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    proposed_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    # Not a foreign key: the membership may be removed later, the grant stays as the record of consent.
    membership_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = _now()
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MembershipGrantConsent(Base):
    """One organisation's consent to a membership grant, and who gave it."""

    __tablename__ = "membership_grant_consents"

    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("membership_grants.id"), primary_key=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    actor_subject: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = _now()


class OAuthClient(Base):
    __tablename__ = "oauth_clients"
    __table_args__ = (
        # Confidential clients have a secret; public ones authenticate with PKCE alone.
        CheckConstraint("(client_type = 'confidential') = (secret_hash IS NOT NULL)", name="secret"),
        CheckConstraint("client_type IN ('confidential', 'public')", name="client_type"),
        CheckConstraint(
            "client_type = 'confidential' OR NOT 'client_credentials' = ANY(grant_types)",
            name="public_no_client_credentials",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    client_id: Mapped[str] = mapped_column(String(100), unique=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    client_type: Mapped[str] = mapped_column(String(20))
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    redirect_uris: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    grant_types: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    token_epoch: Mapped[int] = _epoch()
    created_at: Mapped[datetime] = _now()


class SigningKey(Base):
    """An RSA key pair; the private half encrypted with a key derived from the service's secret."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'retiring', 'retired')", name="status"),
        # At most one key signs.
        Index("uq_signing_keys_active", "status", unique=True, postgresql_where=text("status = 'active'")),
    )

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(10))
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONB)
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = _now()
    retire_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuthorizationCode(Base):
    __tablename__ = "authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(200))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    # Set when the code is redeemed; the family lets a second redemption revoke what the first issued.
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    family_id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()


class RefreshToken(Base):
    """One refresh token; every rotation adds a row to the same family, and any reuse revokes it all."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    client_id: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RevokedToken(Base):
    """An access token revoked before its expiry (RFC 7009); kept until it would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime] = _now()


class RevokedFamily(Base):
    """A sign-in ended early: every access token whose `sid` is this refresh-token family is void (the
    family's refresh tokens are revoked beside it). Kept for an access-token lifetime and a margin."""

    __tablename__ = "revoked_families"

    family_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    revoked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class SupersededTokens(Base):
    """ "Tokens of this subject issued under an epoch below `epoch` are void": the published half of a
    `token_epoch` bump, kept for an access-token lifetime (then no such token is left to refuse)."""

    __tablename__ = "superseded_tokens"
    __table_args__ = (CheckConstraint("kind IN ('organisation', 'user', 'client')", name="kind"),)

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    subject: Mapped[str] = mapped_column(String(100), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer)
    superseded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # Organisations only: their memberships right after the change, `[{"partnership_id", "role"}]`, so a
    # service can tell which of its records made under older tokens still hold (outcomes' webhooks).
    memberships: Mapped[list[dict[str, str]] | None] = mapped_column(JSONB)


class SignInThrottle(Base):
    """A counter of failed sign-ins (services/identity/oauth/login.py): per e-mail address (`account`, a
    keyed hash of it, known or not), per source address, or per OAuth client. Locked while `locked_until`
    is ahead; `since` is the last failure (accounts) or the start of the current window (the others)."""

    __tablename__ = "sign_in_throttles"
    __table_args__ = (CheckConstraint("kind IN ('account', 'address', 'client')", name="kind"),)

    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_organisation_id_at", "organisation_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    at: Mapped[datetime] = _now()
    actor_subject: Mapped[str] = mapped_column(String(100))
    actor_kind: Mapped[str] = mapped_column(String(10))
    actor_organisation_id: Mapped[uuid.UUID | None]
    # The organisation the change concerns; its admins may read the event.
    organisation_id: Mapped[uuid.UUID | None]
    action: Mapped[str] = mapped_column(String(60))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(100))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
