"""The base of every terms model: frozen, unknown keys refused, and a misspelt key told apart from a
merely unknown one ("unknown field `tires`; did you mean `tiers`?"), at the key's own path.

Also `dispatch`, which validates a value against the model its kind names, so an error's path is the
document's path (a pydantic union would insert the member's name into it), and an unknown kind is an
error naming the kinds there are, never a fallback.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, ValidatorFunctionWrapHandler, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError


def unknown_field_reason(key: object, known: list[str]) -> str:
    """What to say about a key the model does not have: with the field it most likely meant, if any."""
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    return f"unknown field `{key}`" + (f"; did you mean `{close[0]}`?" if close else "")


def _relayed(error: Any) -> InitErrorDetails:
    # A caught error re-raised beside new ones keeps its path and its words; its type survives as text.
    return InitErrorDetails(
        type=PydanticCustomError(error["type"], "{reason}", {"reason": error["msg"]}),
        loc=tuple(error["loc"]),
        input=error.get("input"),
    )


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="wrap")
    @classmethod
    def _name_unknown_fields(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if not isinstance(data, Mapping):
            return handler(data)
        known = sorted(f.alias or name for name, f in cls.model_fields.items())
        unknown = [key for key in data if key not in known]
        if not unknown:
            return handler(data)
        errors = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "unknown_field", "{reason}", {"reason": unknown_field_reason(k, known)}
                ),
                loc=(str(k),),
                input=data[k],
            )
            for k in unknown
        ]
        try:
            handler({k: v for k, v in data.items() if k in known})
        except ValidationError as exc:
            errors = [_relayed(e) for e in exc.errors()] + errors
        raise ValidationError.from_exception_data(cls.__name__, errors)


def dispatch(key: str, kinds: Mapping[Any, type[BaseModel]], *, default: Any = None) -> Callable[..., Any]:
    """A wrap validator choosing the model by `data[key]` (or `default` when absent)."""

    def validate(data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(data, tuple(kinds.values())):
            return data
        if not isinstance(data, Mapping):
            raise PydanticCustomError("model_type", "must be an object")
        kind = data.get(key, default)
        model = kinds.get(kind) if isinstance(kind, str | int) and not isinstance(kind, bool) else None
        if model is None:
            names = ", ".join(f"`{k}`" for k in kinds)
            raise ValidationError.from_exception_data(
                "dispatch",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "unknown_kind", "{reason}", {"reason": f"must be one of {names}, not {kind!r}"}
                        ),
                        loc=(key,),
                        input=kind,
                    )
                ],
            )
        return model.model_validate(data)

    return validate
