"""The ledger's hash chain, verifiable offline: this module imports nothing of the service.

What is hashed is each event's *ledger record*, a JSON object:

    {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "partnershipid",
     ["recordformat": "2",] "sequence": <integer>, "actor": {...}, "data": {...}}

Its canonical form is RFC 8785 (JCS) JSON. Two record formats share one chain, told apart by the record
itself, so every stored chain still verifies:

- **format 1** (no `recordformat`; every event chained before format 2): values in clear, and
  `hash = SHA-256(prev_hash as 64 lowercase hex ASCII bytes || canonical JSON bytes)`.
- **format 2** (`"recordformat": "2"`): a person-level event's `subject`, `actor` and person-level or
  free-text `data` values are *commitments*, `"sha256:" + hex(SHA-256(JCS({"salt": s, "value": v})))`
  with a fresh random salt per event and field, so two events of one person cannot be linked from the
  chain and a value can be erased (its salt and value deleted) without breaking it; and
  `hash = SHA-256(prev_hash || digest)` with `digest = hex(SHA-256(canonical JSON bytes))`, so an
  audience that receives only a *sealed stub* (`sequence`, hash, previous hash, digest) still checks the
  link.

`prev_hash` of the first event (sequence 1) is 64 zeros. It needs Python 3.11+ and `rfc8785` (orjson, if
installed, only makes it faster): copy it and `pip install rfc8785`.

What the feed, the stream, webhooks, the ledger reads and the export carry is the CloudEvent built from
the same record (`event_of`), valid under CloudEvents 1.0, whose attributes may only be scalars: `actor`
moves into `data` (as `data.actor`), and `sequence` is a String (the sequence extension), zero-padded to
19 digits so that it also sorts as text. An audience allowed to see a committed value receives it in
place, with its salt in the `ledgersalts` extension (a JSON object string, path → salt, paths `subject`,
`actor`, `data.<key>`), so it checks the value against the commitment; an erased value stays a commitment
in place. Audiences that may not see a person-level event receive a sealed stub instead: type
`dk.effekt.ledger.sealed`, no subject or data, with `ledgerdigest` (format 2; a format-1 stub has none,
and only its sequence and previous hash can be checked). `record_of` turns a CloudEvent back into the
record, exactly and without the service; attributes the record does not hold (`ledgerhash`,
`ledgerprevhash`, `pseudonym`, ...) are not hashed and are ignored. Anyone holding a partnership's
ledger, as `GET /v1/partnerships/{id}/ledger/export` or `/ledger` returns it, can check it:

    python -m services.outcomes.chain ledger.ndjson   # export lines, a JSON list, or a page {"items": [...]}

or `verify_chain(items)` from Python. It reports the first broken link: a gap in the sequence, a
`prev_hash` that is not the previous event's hash, a disclosed value that does not match its commitment,
an event whose canonical bytes are not the canonical form of its content, or a hash that does not match.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785

try:  # optional: a verifier copying this file needs only `rfc8785`; orjson makes the common case faster
    import orjson
except ImportError:  # pragma: no cover - the service installs it
    orjson = None  # type: ignore[assignment]

GENESIS_HASH = "0" * 64
SOURCE = "https://effekt.dk/outcomes"
# The stored columns an event's ledger record is built from.
HASHED_FIELDS = ("id", "partnership_id", "sequence", "type", "subject", "time", "actor", "data")
# The record's attributes besides `sequence`, `actor` and `data`, as a delivered CloudEvent carries them.
RECORD_ATTRIBUTES = (
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "partnershipid",
    "recordformat",  # FORMAT_ATTRIBUTE: only in format 2
)
# The record attribute (and CloudEvent extension) that marks format 2, and its value.
FORMAT_ATTRIBUTE = "recordformat"
FORMAT_2 = "2"
COMMITMENT_PREFIX = "sha256:"
SEALED_TYPE = "dk.effekt.ledger.sealed"
SALTS_EXTENSION = "ledgersalts"
DIGEST_EXTENSION = "ledgerdigest"
_HEX64 = re.compile(r"[0-9a-f]{64}")
SEQUENCE_DIGITS = 19
_SEQUENCE_LIMIT = 10**SEQUENCE_DIGITS
_EXACT = 2**53  # integers below this in magnitude print the same as ECMAScript numbers


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_sequence(sequence: int) -> str:
    """The sequence extension's String: zero-padded to the 19 digits of the largest BIGINT, so text
    order is number order."""
    if not 0 < sequence < _SEQUENCE_LIMIT:
        raise ValueError(f"not a ledger sequence: {sequence}")
    return str(sequence).zfill(SEQUENCE_DIGITS)


def parse_sequence(value: object) -> int | None:
    """The number in a sequence String, or None if it is not one `format_sequence` writes."""
    if not (isinstance(value, str) and len(value) == SEQUENCE_DIGITS and value.isascii() and value.isdigit()):
        return None
    return int(value) or None


def ledger_record(row: Mapping[str, Any], *, record_format: int = 1) -> dict[str, Any]:
    """The ledger record (what the chain hashes), built from an event's `HASHED_FIELDS` (in format 2,
    with the committed values already in them)."""
    record = {
        "specversion": "1.0",
        "id": str(row["id"]),
        "source": f"{SOURCE}/partnerships/{row['partnership_id']}",
        "type": row["type"],
        "subject": row["subject"],
        "time": format_time(row["time"]),
        "datacontenttype": "application/json",
        "partnershipid": str(row["partnership_id"]),
        "sequence": row["sequence"],
        "actor": row["actor"],
        "data": row["data"],
    }
    if record_format == 2:
        record[FORMAT_ATTRIBUTE] = FORMAT_2
    elif record_format != 1:
        raise ValueError(f"not a record format: {record_format}")
    return record


# --- commitments (format 2) -----------------------------------------------------------------------------


def new_salt() -> str:
    """A fresh salt: 128 random bits as 32 hex digits."""
    return secrets.token_hex(16)


def new_salts(count: int) -> list[str]:
    """`count` fresh salts as `new_salt` makes them, drawn from the system's random source at once (an
    event commits several values; a bulk batch commits thousands)."""
    drawn = secrets.token_hex(16 * count)
    return [drawn[i : i + 32] for i in range(0, 32 * count, 32)]


def commitment(salt: str, value: Any) -> str:
    """The salted commitment to one value: `sha256:` and the hex SHA-256 of JCS({"salt", "value"})."""
    body = canonical_json({"salt": salt, "value": value})
    return COMMITMENT_PREFIX + hashlib.sha256(body).hexdigest()


def is_commitment(value: object) -> bool:
    return (
        isinstance(value, str)
        and value.startswith(COMMITMENT_PREFIX)
        and bool(_HEX64.fullmatch(value[len(COMMITMENT_PREFIX) :]))
    )


def get_path(record: Mapping[str, Any], path: str) -> Any:
    """The value at a record path: `subject`, `actor` or `data.<key>`."""
    if path in ("subject", "actor"):
        return record[path]
    head, _, key = path.partition(".")
    if head != "data" or not key:
        raise ValueError(f"not a record path: {path!r}")
    return record["data"][key]


def set_path(record: dict[str, Any], path: str, value: Any) -> None:
    if path in ("subject", "actor"):
        record[path] = value
        return
    head, _, key = path.partition(".")
    if head != "data" or not key or key not in record["data"]:
        raise ValueError(f"not a record path: {path!r}")
    record["data"] = {**record["data"], key: value}


def record_digest(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


def event_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """The CloudEvent a ledger record is delivered as: `actor` inside `data`, `sequence` a String."""
    event = dict(record)
    actor = event.pop("actor")
    event["sequence"] = format_sequence(event["sequence"])
    event["data"] = {"actor": actor, **event["data"]}
    return event


def disclose(event: dict[str, Any], disclosed: Mapping[str, tuple[str, Any]]) -> dict[str, Any]:
    """The CloudEvent with committed values put back in place, path → (salt, value), and their salts in
    the `ledgersalts` extension (what `record_of` turns back into the commitments). A value whose
    commitment is not the one in the event is not put in place (so an altered event still fails)."""
    if not disclosed:
        return event
    record = record_of(event)
    kept = {}
    for path, (salt, value) in disclosed.items():
        try:
            matches = get_path(record, path) == commitment(salt, value)
        except (KeyError, ValueError):
            matches = False
        if matches:
            kept[path] = (salt, value)
    disclosed = kept
    for path, (_, value) in disclosed.items():
        set_path(record, path, value)
    out = event_of(record)
    for name, value in event.items():  # extensions beside the record stay
        if name not in out and name != "data":
            out[name] = value
    out[SALTS_EXTENSION] = json.dumps(
        {path: salt for path, (salt, _) in sorted(disclosed.items())}, separators=(",", ":")
    )
    return out


def sealed_stub(record: Mapping[str, Any], canonical: bytes) -> dict[str, Any]:
    """What an audience that may not see a person-level event receives: a CloudEvent that says only where
    the event is in the chain (format 2: with the digest its link is computed from)."""
    stub = {
        "specversion": "1.0",
        "id": record["id"],
        "source": record["source"],
        "type": SEALED_TYPE,
        "time": record["time"],
        "partnershipid": record["partnershipid"],
        "sequence": format_sequence(record["sequence"]),
    }
    if record.get(FORMAT_ATTRIBUTE) == FORMAT_2:
        stub[DIGEST_EXTENSION] = record_digest(canonical)
    return stub


def record_of(event: Mapping[str, Any]) -> dict[str, Any]:
    """The ledger record a delivered CloudEvent was built from (the inverse of `event_of`, and of
    `disclose`: disclosed values become their commitments again); attributes the record does not hold are
    dropped. Raises ValueError for an event `event_of` cannot have made, or a malformed `ledgersalts`."""
    data = event.get("data")
    sequence = parse_sequence(event.get("sequence"))
    if not isinstance(data, Mapping) or "actor" not in data or sequence is None:
        raise ValueError("not a ledger event: it needs a sequence String and data.actor")
    record = {k: event[k] for k in RECORD_ATTRIBUTES if k in event}
    record["sequence"] = sequence
    record["actor"] = data["actor"]
    record["data"] = {k: v for k, v in data.items() if k != "actor"}
    salts = event.get(SALTS_EXTENSION)
    if salts is not None:
        try:
            paths = json.loads(salts) if isinstance(salts, str) else None
        except json.JSONDecodeError:
            paths = None
        if not isinstance(paths, dict) or not all(isinstance(v, str) for v in paths.values()):
            raise ValueError("ledgersalts is not a JSON object of salts")
        if record.get(FORMAT_ATTRIBUTE) != FORMAT_2:
            raise ValueError("only a format-2 record holds commitments")
        for path, salt in paths.items():
            try:
                set_path(record, path, commitment(salt, get_path(record, path)))
            except (KeyError, ValueError):
                raise ValueError(f"ledgersalts names {path!r}, which the event does not hold") from None
    return record


def _plain(value: Any) -> bool:
    """Whether orjson's sorted output is already RFC 8785 for this value: strings (both escape exactly
    the same characters, the same way), booleans, null, integers a double holds exactly, and objects with
    ASCII keys (so code-point order is UTF-16 order) — no floats, whose forms differ."""
    if value is None or isinstance(value, str | bool):
        return True
    if isinstance(value, int):
        return -_EXACT < value < _EXACT
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return False


def canonical_json(event: Mapping[str, Any]) -> bytes:
    """RFC 8785 canonical JSON (sorted keys, no whitespace, exact number form).

    Ledger events are plain (see `_plain`), and for them orjson writes the same bytes some 50 times
    faster than the reference implementation, which stays for anything else."""
    event = dict(event)
    if orjson is not None and _plain(event):
        return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
    return bytes(rfc8785.dumps(event))


def link_hash(prev_hash: str, canonical: bytes) -> str:
    """Format 1's link: over the previous hash and the record's canonical bytes."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()


def digest_link_hash(prev_hash: str, digest: str) -> str:
    """Format 2's link: over the previous hash and the hex digest of the record's canonical bytes."""
    return hashlib.sha256(prev_hash.encode("ascii") + digest.encode("ascii")).hexdigest()


def record_hash(prev_hash: str, record: Mapping[str, Any], canonical: bytes) -> str:
    """The link of a record in whichever format it is."""
    if record.get(FORMAT_ATTRIBUTE) == FORMAT_2:
        return digest_link_hash(prev_hash, record_digest(canonical))
    return link_hash(prev_hash, canonical)


@dataclass(frozen=True, slots=True)
class ChainReport:
    valid: bool
    checked: int
    last_sequence: int | None = None
    last_hash: str | None = None
    broken_at: int | None = None  # the sequence number of the first broken link
    reason: str | None = None


def verify_chain(
    events: Iterable[Mapping[str, Any]], *, prev_hash: str = GENESIS_HASH, start_sequence: int = 1
) -> ChainReport:
    """Check chain items in order. Each has `sequence` (an integer), `prev_hash`, `hash` and `event` (the
    delivered CloudEvent as JSON), optionally `canonical` (the exact stored bytes of its ledger record, as
    a string). To check a later page alone, pass the hash and sequence it continues from."""
    expected_seq, expected_prev, checked = start_sequence, prev_hash, 0
    for item in events:
        reason = _first_fault(item, expected_seq, expected_prev)
        if reason is not None:
            return ChainReport(
                valid=False,
                checked=checked,
                last_sequence=expected_seq - 1 if checked else None,
                last_hash=expected_prev if checked else None,
                broken_at=expected_seq,
                reason=reason,
            )
        checked += 1
        expected_prev = str(item["hash"])
        expected_seq += 1
    return ChainReport(
        valid=True,
        checked=checked,
        last_sequence=expected_seq - 1 if checked else None,
        last_hash=expected_prev if checked else None,
    )


def _first_fault(item: Mapping[str, Any], expected_seq: int, expected_prev: str) -> str | None:
    seq = item.get("sequence")
    if seq != expected_seq:
        return f"expected sequence {expected_seq}, found {seq!r}"
    if item.get("prev_hash") != expected_prev:
        return "prev_hash is not the previous event's hash"
    event = item.get("event")
    if not isinstance(event, Mapping):
        return "the event content is missing"
    if parse_sequence(event.get("sequence")) != seq:
        return "the event's own sequence differs from its position"
    if event.get("type") == SEALED_TYPE:
        return _stub_fault(item, event, expected_prev)
    try:
        record = record_of(event)
    except ValueError as exc:
        return str(exc)
    canonical = canonical_json(record)
    stored = item.get("canonical")
    if stored and str(stored).encode() != canonical:
        return "the stored canonical bytes are not the canonical form of the event's record"
    if record_hash(expected_prev, record, canonical) != item.get("hash"):
        return "the hash does not match the event and the previous hash"
    return None


def _stub_fault(item: Mapping[str, Any], event: Mapping[str, Any], expected_prev: str) -> str | None:
    """A sealed stub: format 2's link is checked from its digest; a format-1 stub (no digest) can only be
    checked for its place (sequence and previous hash, done by the caller)."""
    digest = event.get(DIGEST_EXTENSION)
    if digest is None:
        return None
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        return "the sealed event's digest is not 64 lowercase hex digits"
    if digest_link_hash(expected_prev, digest) != item.get("hash"):
        return "the hash does not match the sealed event's digest and the previous hash"
    return None


def read_items(text: str) -> list[Any]:
    """The chain items in a ledger file: the export's NDJSON, a JSON list, or a ledger page."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(data, dict):
        return list(data["items"]) if "items" in data else [data]  # a page, or a one-line export
    return list(data)


def main(argv: list[str] | None = None) -> int:
    """Verify a ledger file; exit 0 when intact, 1 at a broken link, 2 on bad usage."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m services.outcomes.chain LEDGER.ndjson", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as handle:
        events = read_items(handle.read())
    report = verify_chain(events)
    print(json.dumps(asdict(report)))
    return 0 if report.valid else 1


if __name__ == "__main__":
    raise SystemExit(main())
