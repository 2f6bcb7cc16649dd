"""The partnership's hash-chained ledger: appending in the writer's transaction, the webhook outbox rows
written with each event, reading, verification and the NDJSON export.

Every state change records its event here; nothing here changes a participant, claim or statement.
"""
