"""The identifiers and wordings terms are written with: outcome, band, fact and segment codes are stable
snake_case keys claims and statements refer to; wordings are what a signatory reads."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from kit.text import FreeWords

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="snake_case, stable")]
OutcomeCode = Code

# Words a signatory reads as a heading or a condition: whitespace alone would sign an empty promise.
Wording = FreeWords
