"""What the gateway accepts as JSON and as `graphql-transport-ws` messages, before GraphQL sees any of it.

A hostile request gets a 4xx (problem+json over HTTP; a 4400 close on a socket), never a 500:

- JSON is read with orjson, which refuses invalid UTF-8 (and lone surrogates), a byte-order mark, `NaN`
  and nesting past 1024 levels without recursing; the gateway's own limit, `MAX_JSON_DEPTH` levels of
  objects and arrays, is checked on top (a mutation carrying a contract's terms nests seven). Integers
  past 64 bits are read as floating point: send such numbers, and money, as strings.
- A WebSocket message must be an object with a string `type`; a `subscribe` needs a string `id` and a
  payload whose `query` and `operationName` are strings and whose `variables` and `extensions` are
  objects (each may be left out; view.py closes a subscribe with neither a query nor a documentId).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from kit.problems import BadRequest

MAX_JSON_DEPTH = 32
MAX_OPERATION_ID = 128  # characters of a `subscribe` message's id


class MalformedJSON(BadRequest):
    code, title = "malformed-json", "The request is not valid JSON"


class JSONTooDeep(BadRequest):
    code, title = "json-too-deep", "The request's JSON is nested too deeply"


class TooDeep(json.JSONDecodeError):
    """A `JSONDecodeError`, so strawberry's socket handler closes with 4400 as for any non-JSON message."""


def too_deep(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether objects and arrays nest more than `limit` levels (`{}` is one). Level by level, each
    container once: no recursion. Exact type tests (the value comes from orjson: plain dicts and lists)
    keep it to about 20 µs for a request with a kilobyte of variables."""
    level: list[Any] = [value] if type(value) in (dict, list) else []
    for _ in range(limit):
        level = [
            child
            for item in level
            for child in (item.values() if type(item) is dict else item)
            if type(child) is dict or type(child) is list
        ]
        if not level:
            return False
    return bool(level)


def decode_json(data: str | bytes) -> object:
    """JSON within the limits above, or a `JSONDecodeError` (`TooDeep` for nesting)."""
    try:
        value = orjson.loads(data)  # orjson.JSONDecodeError is a json.JSONDecodeError
    except orjson.JSONDecodeError as exc:
        if "depth limit" in exc.msg:  # orjson's own limit (1024 levels), far past ours
            raise TooDeep(f"nested more than {MAX_JSON_DEPTH} levels", "", 0) from exc
        raise
    if too_deep(value):
        raise TooDeep(f"nested more than {MAX_JSON_DEPTH} levels", "", 0)
    return value


def parse_request_json(data: str | bytes) -> object:
    """`decode_json` for an HTTP request: its failures as problems (400), never a 500."""
    try:
        return decode_json(data)
    except TooDeep as exc:
        raise JSONTooDeep(f"objects and arrays may nest at most {MAX_JSON_DEPTH} levels") from exc
    except json.JSONDecodeError as exc:
        raise MalformedJSON("the body (or a JSON query parameter) is not valid UTF-8 JSON") from exc


def socket_message_problem(message: object) -> str | None:
    """Why a `graphql-transport-ws` message cannot be handled (the close reason), or None."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "A message must be a JSON object with a string `type`"
    if "id" in message and not (
        isinstance(message["id"], str) and 0 < len(message["id"]) <= MAX_OPERATION_ID
    ):
        return f"An operation id must be a string of 1 to {MAX_OPERATION_ID} characters"
    if message["type"] != "subscribe":
        return None
    payload: Any = message.get("payload")
    if "id" not in message or not isinstance(payload, dict):
        return "A subscribe message needs an `id` and an object `payload`"
    for key, kind in (("query", str), ("operationName", str), ("variables", dict), ("extensions", dict)):
        if payload.get(key) is not None and not isinstance(payload[key], kind):
            return f"`payload.{key}` must be {'a string' if kind is str else 'an object'}"
    return None
