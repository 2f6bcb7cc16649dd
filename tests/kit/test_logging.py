"""Log lines carry no CPR number, however one reaches them: a last-line redaction over every string
(tracebacks included), and uvicorn's WebSocket handshake lines without their query string. Run in a
process of its own: configuring logging here would rewire the test session's own handlers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import logging, structlog
    from kit.logging import configure_logging
    configure_logging()
    structlog.get_logger().info("enrolled 0101904321", found={"cpr": ["010190-4321"]}, kept="a0202904321b")
    try:
        raise ValueError("invalid input for query argument $1: '0101904321'")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    logging.getLogger("uvicorn.error").info('%s - "WebSocket %s" [accepted]', "127.0.0.1:5", "/graphql?cpr=1")
    logging.getLogger("httpx").info("HTTP Request: GET http://x/v1/things?cpr=0101904321")
    """
)


def _lines() -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=60
    )
    return [json.loads(line) for line in done.stderr.splitlines()]


def test_cpr_shaped_numbers_are_redacted_from_every_line_and_traceback() -> None:
    lines = _lines()
    text = json.dumps(lines)
    assert "0101904321" not in text
    assert "010190-4321" not in text
    structured, failed, handshake = lines
    assert structured["event"] == "enrolled [redacted]"
    assert structured["found"] == {"cpr": ["[redacted]"]}
    assert (
        structured["kept"] == "a0202904321b"
    )  # part of a longer word: not CPR-shaped (a hex id stays whole)
    assert "ValueError: invalid input for query argument $1: '[redacted]'" in str(failed["exception"])
    assert handshake["event"] == '127.0.0.1:5 - "WebSocket /graphql" [accepted]'
