"""A minimal investor integration: pull the outcome feed, verify the hash chain, keep the cursor on disk.

    EFFEKT_IDENTITY=https://id.effekt.example EFFEKT_OUTCOMES=https://outcomes.effekt.example \
    EFFEKT_CLIENT_ID=... EFFEKT_CLIENT_SECRET=... python examples/investor_client.py state.json

It authenticates with OAuth2 client credentials (scope `feed:read`), long-polls `GET /v1/feed`, and for
every event checks that it continues its partnership's chain (sequence, previous hash, SHA-256 over the
RFC 8785 form) with `verify_chain` from services/outcomes/chain.py, which you may copy: it needs only
`rfc8785`. The state file holds the feed cursor and each partnership's last (sequence, hash); it is
written atomically *after* an event is handled, so a crash repeats at most one page (handle events
idempotently, by their `id`). A broken chain stops the client: report it, do not skip it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from services.outcomes.chain import GENESIS_HASH, verify_chain


def load_state(path: Path) -> dict[str, Any]:
    if path.exists():
        state: dict[str, Any] = json.loads(path.read_text())
        return state
    return {"cursor": None, "heads": {}}


def save_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)  # atomic: the file is always a state you had really reached


def token(identity: str, client_id: str, secret: str) -> tuple[str, float]:
    response = httpx.post(
        f"{identity}/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "feed:read"},
        auth=(client_id, secret),
        timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    return body["access_token"], time.monotonic() + body.get("expires_in", 300) - 30


def check(event: dict[str, Any], heads: dict[str, list[Any]]) -> None:
    """Verify that the event continues its partnership's chain; raise if it does not."""
    partnership = event["partnershipid"]
    last_sequence, last_hash = heads.get(partnership, [0, GENESIS_HASH])
    sequence = int(event["sequence"])  # a zero-padded String (the CloudEvents sequence extension)
    item = {
        "sequence": sequence,
        "prev_hash": event["ledgerprevhash"],
        "hash": event["ledgerhash"],
        "event": event,
    }
    report = verify_chain([item], prev_hash=last_hash, start_sequence=last_sequence + 1)
    if not report.valid:
        raise SystemExit(f"ledger of {partnership} broken at {report.broken_at}: {report.reason}")
    heads[partnership] = [sequence, event["ledgerhash"]]


def handle(event: dict[str, Any]) -> None:
    """Your business logic: here, print what each issued statement pays by outcome. An investor receives
    person-level events (`claim.verified`, ...) only as sealed stubs (`dk.effekt.ledger.sealed`), which
    `check` verified as links of the chain; the amounts come in the partnership-level summaries."""
    if event["type"] == "dk.effekt.statement.summarised":
        data = event["data"]
        for line in data["outcomes"]:
            print(
                f"{data['period_start']}..{data['period_end']} {line['outcome_code']}: {line['lines']} "
                f"{line['kind']} lines, {line['amount']} {data['currency']}"
            )


def main(state_file: str) -> None:
    identity, outcomes = os.environ["EFFEKT_IDENTITY"], os.environ["EFFEKT_OUTCOMES"]
    client_id, secret = os.environ["EFFEKT_CLIENT_ID"], os.environ["EFFEKT_CLIENT_SECRET"]
    path = Path(state_file)
    state = load_state(path)
    access, expires = token(identity, client_id, secret)
    with httpx.Client(base_url=outcomes, timeout=40) as client:
        while True:
            if time.monotonic() > expires:
                access, expires = token(identity, client_id, secret)
            params = {"limit": 500, "wait": 25} | ({"after": state["cursor"]} if state["cursor"] else {})
            response = client.get("/v1/feed", params=params, headers={"Authorization": f"Bearer {access}"})
            if response.status_code >= 500:
                time.sleep(5)  # the service is restarting: the cursor makes retrying safe
                continue
            response.raise_for_status()
            for event in response.json():
                check(event, state["heads"])
                handle(event)
            state["cursor"] = response.headers["Feed-Cursor"]
            save_state(path, state)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "effekt-feed-state.json")
