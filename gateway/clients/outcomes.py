"""The outcome service as the gateway reads it, by aggregate: participants, claims, payment statements,
the outcome aggregates, the hash-chained ledger, and the caller's organisation's webhook subscriptions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from gateway.clients.transport import IdRow, Row, ServiceClient, body, write_headers
from kit.pagination import Page

# --- participants ------------------------------------------------------------------------------------------


class ParticipantRow(IdRow):
    partnership_id: UUID
    contract_id: UUID
    pseudonym: str | None = None  # absent for a payer without residents
    municipality_code: str
    enrolment_date: date
    cohort: str | None = None
    segment: str | None = None
    eligibility_confirmed_at: datetime | None = None
    exit_date: date | None = None
    exit_reason: str | None = None
    municipal_reference: str | None = None
    version: int
    created_at: datetime


# --- claims ------------------------------------------------------------------------------------------------


class PayerShareRow(Row):
    payer_organisation_id: UUID
    tariff_share: Decimal
    amount: Decimal


class CutRow(Row):
    cap: str
    amount: Decimal


class ClaimRow(IdRow):
    partnership_id: UUID
    contract_id: UUID
    participant_id: UUID
    outcome_code: str
    achievement_date: date
    evidence_reference: str | None = None
    evidence_sha256: str | None = None
    evidence_media_type: str | None = None
    has_evidence_document: bool | None = None
    claimant_organisation_id: UUID
    facts: dict[str, Any] | None = None
    status: str
    final: bool | None = None
    disputed: bool | None = None
    verifier_organisation_id: UUID | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    dispute_reason: str | None = None
    currency: str | None = None
    tariff: Decimal | None = None
    payable: Decimal | None = None
    cut: Decimal | None = None
    cut_reasons: list[CutRow] | None = None
    band: str | None = None
    tier: int | None = None
    split: list[PayerShareRow] | None = None
    payment_period: str | None = None
    version: int
    created_at: datetime


# --- statements and aggregates -----------------------------------------------------------------------------


class StatementLineRow(IdRow):
    kind: str
    claim_id: UUID | None
    outcome_code: str | None
    tranche_code: str | None = None
    variation_code: str | None = None
    cohort_code: str | None = None
    achievement_date: date
    priced_on: date
    tariff_share: Decimal
    cut_share: Decimal
    amount: Decimal
    repriced_by_version_id: UUID | None = None


class StatementOutcomeRow(Row):
    outcome_code: str
    # Null when withheld under the small-cell rule (a reader of totals only), named in `suppressed`.
    claim_lines: int | None
    adjustment_lines: int | None
    tariff_share: Decimal | None
    cut_share: Decimal | None
    amount: Decimal | None
    suppressed: list[str] = []


class StatementTrancheRow(Row):
    tranche_code: str
    due_date: date
    amount: Decimal


class StatementVariationRow(Row):
    variation_code: str
    due_date: date
    amount: Decimal


class StatementAuditRow(Row):
    audit_id: UUID
    # Null when withheld under the small-cell rule (a reader of totals only), named in `suppressed`.
    clawback_lines: int | None
    clawed_back: Decimal | None
    extrapolated: Decimal | None
    amount: Decimal | None
    suppressed: list[str] = []


class StatementCohortRow(Row):
    cohort_payment_id: UUID
    cohort_outcome_code: str
    cohort: str
    period_start: date
    period_end: date
    amount: Decimal


class StatementRow(IdRow):
    partnership_id: UUID
    contract_id: UUID
    payer_organisation_id: UUID
    period_start: date
    period_end: date
    currency: str
    basis: str = "verification"
    status: str
    total_tariff: Decimal | None
    total_cut: Decimal | None
    total: Decimal | None
    small_cell_threshold: int | None = None
    suppressed: list[str] = []
    content_hash: str | None = None
    issued_at: datetime | None = None
    paid_at: datetime | None = None
    version: int
    outcomes: list[StatementOutcomeRow] = []
    tranches: list[StatementTrancheRow] = []
    variations: list[StatementVariationRow] = []
    audits: list[StatementAuditRow] = []
    cohorts: list[StatementCohortRow] = []
    # Listings leave the lines out (None) to stay small; so does the service for a reader of totals only.
    lines: list[StatementLineRow] | None = None


# Counts and the amounts built from them are null when withheld under the small-cell rule (a reader
# without person-level rights); each row names its withheld fields in `suppressed`.
class OutcomeMonthRow(Row):
    outcome_code: str
    month: str
    verified: int | None
    value: Decimal | None
    suppressed: list[str] = []


class ContractTotalsRow(Row):
    contract_id: UUID
    currency: str | None = None
    earned: Decimal | None
    pending_claims: int | None
    pending_value: Decimal | None
    contract_cap: Decimal | None = None
    remaining_cap: Decimal | None = None
    suppressed: list[str] = []


class AggregatesRow(Row):
    small_cell_threshold: int | None = None
    enrolled: int | None
    exited: int | None
    suppressed: list[str] = []
    verified_outcomes: list[OutcomeMonthRow] | None = None
    contracts: list[ContractTotalsRow] | None = None


# --- the ledger --------------------------------------------------------------------------------------------


class LedgerEntryRow(Row):
    sequence: int
    hash: str
    prev_hash: str
    # The chained CloudEvent, read by the fields that show it (its `data` varies by type).
    event: dict[str, Any] | None = None
    canonical: str = ""


class ChainStatusRow(Row):
    valid: bool
    checked: int
    last_sequence: int | None = None
    last_hash: str | None = None
    broken_at: int | None = None
    reason: str | None = None


# --- webhooks ----------------------------------------------------------------------------------------------


class WebhookSubscriptionRow(IdRow):
    organisation_id: UUID
    partnership_id: UUID
    audience: str
    url: str
    event_types: list[str] | None = None
    description: str | None = None
    status: str
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    previous_secret_expires_at: datetime | None = None
    version: int
    created_at: datetime


class WebhookSecretRow(WebhookSubscriptionRow):
    """A subscription as created or rotated: the only answers that carry its signing secret."""

    secret: str


class WebhookDeliveryRow(IdRow):
    subscription_id: UUID
    event_id: UUID
    sequence: int
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    created_at: datetime


WEBHOOKS = "/v1/webhook-subscriptions"


class OutcomesClient:
    def __init__(self, http: ServiceClient) -> None:
        self.http = http

    # --- participants

    async def participants(self, ids: Sequence[UUID]) -> dict[UUID, ParticipantRow]:
        return await self.http.batch(ParticipantRow, "/v1/participants", ids)

    async def participants_page(
        self, partnership_id: UUID, *, limit: int, cursor: str | None
    ) -> Page[ParticipantRow]:
        params = {"partnership_id": str(partnership_id), "limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        return await self.http.page(ParticipantRow, "/v1/participants", params)

    async def enrol_participant(
        self,
        *,
        partnership_id: UUID,
        contract_id: UUID,
        cpr: str,
        municipality_code: str,
        enrolment_date: date,
        cohort: str | None,
        municipal_reference: str | None,
        idempotency_key: str | None,
        segment: str | None = None,
    ) -> ParticipantRow:
        payload = body(
            partnership_id=partnership_id,
            contract_id=contract_id,
            cpr=cpr,
            municipality_code=municipality_code,
            enrolment_date=enrolment_date,
            cohort=cohort,
            municipal_reference=municipal_reference,
            segment=segment,
        )
        answer = await self.http.send(
            "POST", "/v1/participants", payload, headers=write_headers(idempotency_key)
        )
        return ParticipantRow.model_validate(answer)

    async def confirm_eligibility(
        self, participant_id: UUID, *, expected_version: int | None, idempotency_key: str | None
    ) -> ParticipantRow:
        answer = await self.http.send(
            "POST",
            f"/v1/participants/{participant_id}/eligibility-confirmation",
            headers=write_headers(idempotency_key, expected_version),
        )
        return ParticipantRow.model_validate(answer)

    async def exit_participant(
        self,
        participant_id: UUID,
        *,
        exit_date: date,
        reason: str,
        expected_version: int | None,
        idempotency_key: str | None,
    ) -> ParticipantRow:
        answer = await self.http.send(
            "POST",
            f"/v1/participants/{participant_id}/exit",
            {"exit_date": exit_date.isoformat(), "reason": reason},
            headers=write_headers(idempotency_key, expected_version),
        )
        return ParticipantRow.model_validate(answer)

    # --- claims

    async def claims(self, ids: Sequence[UUID]) -> dict[UUID, ClaimRow]:
        return await self.http.batch(ClaimRow, "/v1/outcome-claims", ids)

    async def claims_of(self, partnership_id: UUID) -> list[ClaimRow]:
        """Every claim of a partnership the caller may see (all pages)."""
        return await self.http.every(ClaimRow, "/v1/outcome-claims", {"partnership_id": str(partnership_id)})

    async def claims_page(
        self, partnership_id: UUID, *, limit: int, cursor: str | None, status: str | None
    ) -> Page[ClaimRow]:
        params = {"partnership_id": str(partnership_id), "limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        if status:
            params["status"] = status
        return await self.http.page(ClaimRow, "/v1/outcome-claims", params)

    async def submit_claim(
        self,
        *,
        participant_id: UUID,
        outcome_code: str,
        achievement_date: date,
        evidence_reference: str | None,
        evidence_document_base64: str | None,
        evidence_media_type: str | None,
        idempotency_key: str | None,
        facts: dict[str, Any] | None = None,
    ) -> ClaimRow:
        payload = body(
            participant_id=participant_id,
            outcome_code=outcome_code,
            achievement_date=achievement_date,
            evidence_reference=evidence_reference,
            evidence_document_base64=evidence_document_base64,
            evidence_media_type=evidence_media_type,
            facts=facts,
        )
        answer = await self.http.send(
            "POST", "/v1/outcome-claims", payload, headers=write_headers(idempotency_key)
        )
        return ClaimRow.model_validate(answer)

    async def verify_claim(
        self,
        claim_id: UUID,
        *,
        decision: str,
        reason: str | None,
        expected_version: int | None,
        idempotency_key: str | None,
    ) -> ClaimRow:
        return await self._decide(
            claim_id, "verification", decision, reason, expected_version, idempotency_key
        )

    async def resolve_dispute(
        self,
        claim_id: UUID,
        *,
        decision: str,
        reason: str | None,
        expected_version: int | None,
        idempotency_key: str | None,
    ) -> ClaimRow:
        return await self._decide(
            claim_id, "dispute-resolution", decision, reason, expected_version, idempotency_key
        )

    async def dispute_claim(
        self, claim_id: UUID, *, reason: str, expected_version: int | None, idempotency_key: str | None
    ) -> ClaimRow:
        answer = await self.http.send(
            "POST",
            f"/v1/outcome-claims/{claim_id}/dispute",
            {"reason": reason},
            headers=write_headers(idempotency_key, expected_version),
        )
        return ClaimRow.model_validate(answer)

    async def _decide(
        self,
        claim_id: UUID,
        action: str,
        decision: str,
        reason: str | None,
        expected_version: int | None,
        idempotency_key: str | None,
    ) -> ClaimRow:
        payload: dict[str, Any] = {"decision": decision}
        if reason is not None:
            payload["reason"] = reason
        answer = await self.http.send(
            "POST",
            f"/v1/outcome-claims/{claim_id}/{action}",
            payload,
            headers=write_headers(idempotency_key, expected_version),
        )
        return ClaimRow.model_validate(answer)

    # --- statements and aggregates

    async def statements(self, ids: Sequence[UUID]) -> dict[UUID, StatementRow]:
        """Statements with their lines."""
        return await self.http.batch(StatementRow, "/v1/payment-statements", ids)

    async def statements_of_contract(self, contract_id: UUID) -> list[StatementRow]:
        """Totals only: a statement's lines (hundreds per period) are left out."""
        return await self.http.every(
            StatementRow, "/v1/payment-statements", {"lines": "false", "contract_id": str(contract_id)}
        )

    async def generate_statement(
        self,
        *,
        contract_id: UUID,
        payer_organisation_id: UUID,
        period_start: date,
        period_end: date,
        idempotency_key: str | None,
    ) -> StatementRow:
        payload = body(
            contract_id=contract_id,
            payer_organisation_id=payer_organisation_id,
            period_start=period_start,
            period_end=period_end,
        )
        answer = await self.http.send(
            "POST", "/v1/payment-statements", payload, headers=write_headers(idempotency_key)
        )
        return StatementRow.model_validate(answer)

    async def issue_statement(
        self, statement_id: UUID, *, expected_version: int | None, idempotency_key: str | None
    ) -> StatementRow:
        answer = await self.http.send(
            "POST",
            f"/v1/payment-statements/{statement_id}/issue",
            headers=write_headers(idempotency_key, expected_version),
        )
        return StatementRow.model_validate(answer)

    async def mark_statement_paid(
        self, statement_id: UUID, *, expected_version: int | None, idempotency_key: str | None
    ) -> StatementRow:
        answer = await self.http.send(
            "POST",
            f"/v1/payment-statements/{statement_id}/payment",
            headers=write_headers(idempotency_key, expected_version),
        )
        return StatementRow.model_validate(answer)

    async def aggregates(self, partnership_id: UUID) -> AggregatesRow:
        return await self.http.read(AggregatesRow, f"/v1/partnerships/{partnership_id}/outcome-aggregates")

    # --- the ledger

    async def ledger_page(self, partnership_id: UUID, *, after: str, limit: int) -> Page[LedgerEntryRow]:
        """Ledger events after the sequence `after` (a page's cursor), in sequence order."""
        return await self.http.page(
            LedgerEntryRow,
            f"/v1/partnerships/{partnership_id}/ledger",
            {"after": str(after), "limit": str(limit)},
        )

    async def chain_status(self, partnership_id: UUID) -> ChainStatusRow:
        return await self.http.read(ChainStatusRow, f"/v1/partnerships/{partnership_id}/ledger/verification")

    # --- webhooks: the service scopes every one to the caller's organisation

    async def webhook_subscriptions(self) -> list[WebhookSubscriptionRow]:
        """The organisation's subscriptions, whole (there are few), oldest first."""
        return (await self.http.page(WebhookSubscriptionRow, WEBHOOKS)).items

    async def webhook_deliveries(
        self, subscription_id: UUID, *, limit: int, cursor: str | None, status: str | None
    ) -> Page[WebhookDeliveryRow]:
        params = {"limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        if status is not None:
            params["status"] = status
        return await self.http.page(WebhookDeliveryRow, f"{WEBHOOKS}/{subscription_id}/deliveries", params)

    async def create_webhook_subscription(
        self,
        *,
        partnership_id: UUID,
        url: str,
        event_types: list[str],
        description: str | None,
        idempotency_key: str | None,
    ) -> WebhookSecretRow:
        payload: dict[str, Any] = {
            "partnership_id": str(partnership_id),
            "url": url,
            "event_types": list(event_types),
        }
        if description is not None:
            payload["description"] = description
        answer = await self.http.send("POST", WEBHOOKS, payload, headers=write_headers(idempotency_key))
        return WebhookSecretRow.model_validate(answer)

    async def update_webhook_subscription(
        self,
        subscription_id: UUID,
        *,
        status: str | None,
        url: str | None,
        event_types: list[str] | None,
        expected_version: int,
        idempotency_key: str | None,
    ) -> WebhookSubscriptionRow:
        payload: dict[str, Any] = {}
        if status is not None:
            payload["status"] = status
        if url is not None:
            payload["url"] = url
        if event_types is not None:
            payload["event_types"] = list(event_types)
        answer = await self.http.send(
            "PATCH",
            f"{WEBHOOKS}/{subscription_id}",
            payload,
            headers=write_headers(idempotency_key, expected_version),
        )
        return WebhookSubscriptionRow.model_validate(answer)

    async def redeliver_webhook(
        self, subscription_id: UUID, delivery_id: UUID, *, idempotency_key: str | None
    ) -> WebhookDeliveryRow:
        answer = await self.http.send(
            "POST",
            f"{WEBHOOKS}/{subscription_id}/deliveries/{delivery_id}/redelivery",
            headers=write_headers(idempotency_key),
        )
        return WebhookDeliveryRow.model_validate(answer)

    async def rotate_webhook_secret(
        self,
        subscription_id: UUID,
        *,
        previous_secret_valid_for: int,
        expected_version: int,
        idempotency_key: str | None,
    ) -> WebhookSecretRow:
        answer = await self.http.send(
            "POST",
            f"{WEBHOOKS}/{subscription_id}/secret-rotation",
            {"previous_secret_valid_for": previous_secret_valid_for},
            headers=write_headers(idempotency_key, expected_version),
        )
        return WebhookSecretRow.model_validate(answer)

    async def delete_webhook_subscription(self, subscription_id: UUID) -> None:
        await self.http.send("DELETE", f"{WEBHOOKS}/{subscription_id}")
