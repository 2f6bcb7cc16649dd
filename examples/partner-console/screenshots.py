"""Screenshots of the partner console, one per partner type, for docs/integrations/partner-ui.md:

    .venv/bin/python examples/partner-console/screenshots.py [out_dir]

The browser test takes them: this runs `tests/browser/test_partner_console.py`'s
`test_each_partner_type_sees_its_own_view_and_is_photographed` (a disposable platform with the demo
`effekt up` seeds, the console built from its lock file and served on an origin of its own, Debian's
Chromium through Playwright) with `EFFEKT_SCREENSHOTS=out_dir`, so a picture is written only once the test
has checked the view it shows. `out_dir` defaults to `screenshots/` beside this file; it writes
`municipality.png`, `provider.png`, `investor.png` and `evaluator.png`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST = "tests/browser/test_partner_console.py::test_each_partner_type_sees_its_own_view_and_is_photographed"


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]).resolve() if argv else Path(__file__).resolve().parent / "screenshots"
    env = {**os.environ, "EFFEKT_SCREENSHOTS": str(out_dir), "EFFEKT_REQUIRE_BROWSER": "1"}
    command = [sys.executable, "-m", "pytest", TEST, "-q", "-p", "no:cacheprovider"]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode  # noqa: S603


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
