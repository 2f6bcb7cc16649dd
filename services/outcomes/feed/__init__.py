"""The outcome feed: ledger events as CloudEvents per partnership in sequence order, paged, long-polled
or streamed, with the pseudonym added only for an audience allowed to see it.

It only reads the ledger; it never re-serialises the hashed bytes.
"""
