"""An independent check of a partnership's hash chain from its feed: none of `services.outcomes.chain`, only
the `rfc8785` reference implementation and `hashlib`, written from the documented algorithm alone."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import rfc8785

GENESIS = "0" * 64


def _commitment(salt: str, value: Any) -> str:
    return "sha256:" + hashlib.sha256(rfc8785.dumps({"salt": salt, "value": value})).hexdigest()


def verify_feed_chain(events: Sequence[dict[str, Any]]) -> str:
    """Check the feed's events of one partnership, from sequence 1, as an outsider would; return the last
    hash. The algorithm is docs/outcomes.md "The ledger" (the hash chain, record format 2) with the record
    layout of docs/integrations/investor-system.md "3. Verify the chain": the ledger record is the
    CloudEvent with `sequence` as a JSON integer, `actor` moved out of `data` beside it, every value named
    in `ledgersalts` replaced by its commitment `sha256:` + SHA-256(JCS({"salt", "value"})), and the
    feed-only extensions (`ledgerhash`, `ledgerprevhash`, `ledgersalts`, `pseudonym`, …) left out. Format 1
    (no `recordformat`): hash = SHA-256(previous hash as 64 lowercase hex ASCII bytes ‖ RFC 8785 bytes of
    the record); format 2: hash = SHA-256(previous hash ‖ hex SHA-256 of those bytes), which a sealed stub
    (`dk.effekt.ledger.sealed`) gives as `ledgerdigest`. The first previous hash is 64 zeros. If another
    link formula is adopted, this function alone follows it."""
    attributes = (
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "datacontenttype",
        "partnershipid",
        "recordformat",
    )
    previous = GENESIS
    for expected, event in enumerate(events, start=1):
        assert int(event["sequence"]) == expected, f"gap or reordering at {expected}: {event['sequence']}"
        assert event["ledgerprevhash"] == previous, f"event {expected} does not continue the chain"
        if event["type"] == "dk.effekt.ledger.sealed":
            assert "ledgerdigest" in event, f"event {expected} is a stub without a digest"
            digest = event["ledgerdigest"]
            link = hashlib.sha256(previous.encode("ascii") + digest.encode("ascii")).hexdigest()
        else:
            data = dict(event["data"])
            record = {name: event[name] for name in attributes if name in event}
            record["sequence"] = int(event["sequence"])
            record["actor"] = data.pop("actor")
            record["data"] = data
            for path, salt in json.loads(event.get("ledgersalts", "{}")).items():
                if path in ("subject", "actor"):
                    record[path] = _commitment(salt, record[path])
                else:
                    key = path.removeprefix("data.")
                    record["data"][key] = _commitment(salt, record["data"][key])
            canonical = rfc8785.dumps(record)
            if record.get("recordformat") == "2":
                digest = hashlib.sha256(canonical).hexdigest()
                link = hashlib.sha256(previous.encode("ascii") + digest.encode("ascii")).hexdigest()
            else:
                link = hashlib.sha256(previous.encode("ascii") + canonical).hexdigest()
        assert event["ledgerhash"] == link, f"event {expected}'s hash is not the hash of its record"
        previous = link
    return previous
