"""The audit aggregate's problems (beside the service's own in `services/outcomes/errors.py`).

NotFound (404): AuditNotFound
Conflict (409): AuditOverlaps, AuditClosed, AuditIncomplete, FindingFinal
"""

from kit.problems import Conflict, NotFound


class AuditNotFound(NotFound):
    code, title = "audit-not-found", "No such payment audit (or not visible to you)"


class AuditOverlaps(Conflict):
    code, title = "audit-overlaps", "An audit of this contract and payer already covers part of this period"


class AuditClosed(Conflict):
    code, title = "audit-closed", "The audit is closed: its findings and lines can no longer change"


class AuditIncomplete(Conflict):
    code, title = "audit-incomplete", "Every sampled claim needs a finding, and no dispute may be open"


class FindingFinal(Conflict):
    code, title = "finding-final", "This finding was disputed and resolved, or cannot be disputed"
