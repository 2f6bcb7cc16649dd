"""Register the console's operations as the gateway's trusted documents (docs/gateway.md): in production
the gateway runs only those, so a console built from these files works against it. Run after changing an
operation: `python examples/partner-console/trust.py`; tests/test_partner_console_operations.py fails while
one is missing. Entries other UIs registered are kept."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
OPERATIONS = HERE / "src" / "operations"
TRUSTED = HERE.parents[1] / "gateway" / "trusted_documents.json"


def documents() -> dict[str, str]:
    """Each operation file as the console sends it (Vite's `?raw` import: the file's text, unchanged)."""
    texts = (path.read_text() for path in sorted(OPERATIONS.glob("*.graphql")))
    return {"sha256:" + hashlib.sha256(text.encode()).hexdigest(): text for text in texts}


def main() -> None:
    known = json.loads(TRUSTED.read_text()) if TRUSTED.exists() else {}
    TRUSTED.write_text(json.dumps({**known, **documents()}, indent=2, sort_keys=True) + "\n")
    print(f"{TRUSTED}: {len(documents())} console operations registered")


if __name__ == "__main__":
    main()
