"""The identifiers and wordings terms are written with: outcome, band, fact and segment codes are stable
snake_case keys claims and statements refer to; wordings are what a signatory reads."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from kit.text import FreeWords

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="snake_case, stable")]
OutcomeCode = Code

# Words a signatory reads as a heading or a condition: whitespace alone would sign an empty promise.
Wording = FreeWords

# Who may decide a claim of an outcome: a role that reads claims. Investors, advisers and observers read
# none (services/outcomes/access.py), and an investor is paid from what is verified; a contract naming
# them would leave its claims undecidable, or decided by an interested party.
VerifierRole = Literal["outcome_payer", "evaluator", "provider"]
