"""Structured JSON logs (structlog) with the request id (and, inside a request, the trace id: see
`kit.tracing`) on every line and no personal data in them.

What a line may hold is decided where it is written (no request body, document, query string or raw path;
see docs/gateway.md). As a last line of defence every string on every line, tracebacks included, has
CPR-shaped numbers (`kit.cpr`: ten digits, an optional dash after the sixth, not part of a longer word,
in any script's digits or spaced out) replaced by `[redacted]` before it is rendered: an exception's message
can quote the value it failed on.
"""

from __future__ import annotations

import json as stdlib_json
import logging
import sys
from collections.abc import Callable
from typing import Any

import orjson
import structlog

from kit.cpr import redact_cpr

REDACTED = "[redacted]"


def configure_logging(*, json: bool = True, level: str = "INFO") -> None:
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, redact_cpr_numbers, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Route the standard library's loggers (uvicorn, sqlalchemy, alembic) through the same renderer.
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_path_only)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,  # a traceback, not the exc_info tuple's repr
                redact_cpr_numbers,
                renderer,
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own handler would write its lines unfiltered, in its own format.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Access lines come from kit.metrics (route templates only); uvicorn's, and httpx's line per outgoing
    # request, carry the path and query string.
    for noisy in ("uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def redact_cpr_numbers(_: Any, __: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """The last line of defence (module docstring): CPR-shaped numbers in any string become `[redacted]`."""
    return {key: _redacted(value) for key, value in event.items()}


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_cpr(value, REDACTED)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def _path_only(record: logging.LogRecord) -> bool:
    """uvicorn logs each WebSocket handshake as `"WebSocket /graphql?…"`: keep the path, drop the query
    string, which can carry anything a client put there."""
    if (
        record.name.startswith("uvicorn")
        and isinstance(record.args, tuple)
        and "WebSocket %s" in str(record.msg)
    ):
        record.args = tuple(
            arg.split("?", 1)[0] if isinstance(arg, str) and arg.startswith("/") else arg
            for arg in record.args
        )
    return True


def _dumps(event: Any, default: Callable[[Any], Any]) -> str:
    """orjson: a log line renders in a fifth of the standard library's time (one per request, at least).
    Falls back to the standard library for what orjson refuses (integers past 64 bits)."""
    try:
        return orjson.dumps(event, default=default, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return stdlib_json.dumps(event, default=default)
