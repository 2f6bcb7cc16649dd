"""Webhooks: subscriptions per organisation, a transactional outbox written with each ledger event, and a
dispatcher that signs deliveries per the Standard Webhooks specification."""
