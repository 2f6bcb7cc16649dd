"""What the signed terms say about publishing (docs/open-data.md), the same in every schema version: an
optional `disclosure` map from a block of the registry or the results to its status. Absent, a document
hashes as it did before the block existed; the outcome payers may change a status later (audited)."""

from __future__ import annotations

from typing import Literal

BlockCode = Literal[
    "contract.title",
    "contract.period",
    "contract.target_group",
    "contract.max_participants",
    "contract.parties",
    "contract.signatories",
    "contract.outcome_metrics",
    "contract.outcome_pricing",
    "contract.caps",
    "contract.payer_split",
    "contract.amendments",
    "results.engaged",
    "results.outcomes",
    "results.payments",
]
DisclosureStatus = Literal["public", "private", "partnership", "disputed"]
Disclosure = dict[BlockCode, DisclosureStatus]
