"""A structured diff between two terms documents of any schema version: added, removed and changed
dotted paths with their values."""

from __future__ import annotations

from typing import Any

# Lists of objects are compared by a natural key rather than by position, so inserting an outcome does
# not show every later outcome as "changed".
_LIST_KEYS = ("code", "organisation_id", "name")


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    for key in _LIST_KEYS:
        if items and all(isinstance(i, dict) and isinstance(i.get(key), str) for i in items):
            keys = [i[key] for i in items]
            if len(set(keys)) == len(keys):
                return dict(zip(keys, items, strict=True))
    return None


def diff_documents(before: Any, after: Any) -> dict[str, list[dict[str, Any]]]:
    """What changed from `before` to `after`: added, removed and changed dotted paths with values.

    Lists of objects with a unique `code`, `organisation_id` or `name` are addressed by it
    (`outcomes.job_start.tariff`, `facts.hours_per_week.unit`); other lists by position.
    """
    result: dict[str, list[dict[str, Any]]] = {"added": [], "removed": [], "changed": []}

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, list) and isinstance(b, list):
            ka, kb = _keyed(a), _keyed(b)
            if ka is not None and kb is not None:
                a, b = ka, kb
            else:
                a, b = dict(enumerate(a)), dict(enumerate(b))
        if isinstance(a, dict) and isinstance(b, dict):
            for key in a.keys() | b.keys():
                sub = f"{path}.{key}" if path else str(key)
                if key not in b:
                    result["removed"].append({"path": sub, "value": a[key]})
                elif key not in a:
                    result["added"].append({"path": sub, "value": b[key]})
                else:
                    walk(a[key], b[key], sub)
            return
        if a != b or type(a) is not type(b):
            result["changed"].append({"path": path, "from": a, "to": b})

    walk(before, after, "")
    for entries in result.values():
        entries.sort(key=lambda e: e["path"])
    return result
