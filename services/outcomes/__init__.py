"""Where money is earned: pseudonymous participants, outcome claims, verification, pricing, the
tamper-evident ledger, payment statements, the outcome feed and webhooks. It never stores a CPR number
and never writes another service's data."""
