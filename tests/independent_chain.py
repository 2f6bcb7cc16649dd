"""An independent check of a partnership's hash chain from its feed: none of `services.outcomes.chain`, only
the `rfc8785` reference implementation and `hashlib`, written from the documented algorithm alone."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import rfc8785

GENESIS = "0" * 64


def verify_feed_chain(events: Sequence[dict[str, Any]]) -> str:
    """Check the feed's events of one partnership, from sequence 1, as an outsider would; return the last
    hash. The algorithm is docs/outcomes.md "The ledger" (the hash chain) with the record layout of
    docs/integrations/investor-system.md "3. Verify the chain": the ledger record is the CloudEvent with
    `sequence` as a JSON integer, `actor` moved out of `data` beside it, and the feed-only extensions
    (`ledgerhash`, `ledgerprevhash`, `pseudonym`, …) left out; hash = SHA-256(previous hash as 64 lowercase
    hex ASCII bytes ‖ RFC 8785 bytes of the record), the first previous hash 64 zeros. If another link
    formula is adopted, this function alone follows it."""
    attributes = (
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "datacontenttype",
        "partnershipid",
    )
    previous = GENESIS
    for expected, event in enumerate(events, start=1):
        assert int(event["sequence"]) == expected, f"gap or reordering at {expected}: {event['sequence']}"
        assert event["ledgerprevhash"] == previous, f"event {expected} does not continue the chain"
        data = dict(event["data"])
        record = {name: event[name] for name in attributes if name in event}
        record["sequence"] = int(event["sequence"])
        record["actor"] = data.pop("actor")
        record["data"] = data
        digest = hashlib.sha256(previous.encode("ascii") + rfc8785.dumps(record)).hexdigest()
        assert event["ledgerhash"] == digest, f"event {expected}'s hash is not the hash of its record"
        previous = digest
    return previous
