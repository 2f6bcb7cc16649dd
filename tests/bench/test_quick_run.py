"""The harness end to end in `--quick` mode: it runs, reports all five sections and tears down.

For correctness only: no figure is compared with anything (the machine is shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SECTIONS = ["bulk", "writes", "feed", "gateway", "growth"]


def test_the_quick_run_reports_every_section_with_its_limits_and_ratios(tmp_path: Path) -> None:
    out, doc = tmp_path / "latest.json", tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out), "--markdown", str(doc)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["mode"] == "quick"
    assert [s["key"] for s in result["sections"]] == SECTIONS
    assert {s["status"] for s in result["sections"]} <= {"ok", "not available"}
    for section in result["sections"]:
        if section["status"] == "not available":
            assert section["reason"]
        else:
            assert section["measurements"], section
            assert section["ratios"], section
            assert all(m["ops"] > 0 and m["repetitions"] >= 3 for m in section["measurements"]), section
    writes = next(s for s in result["sections"] if s["key"] == "writes")
    assert writes["status"] == "ok"
    assert any("replay" in note for note in writes["notes"])
    assert {m["name"].split(",")[0] for m in result["baseline"]} >= {
        "load generator ceiling: bare asyncio HTTP responder",
        "FastAPI hello-world under uvicorn (separate process)",
    }
    assert result["machine"]["cores"]
    assert result["machine"]["postgresql"]
    text = doc.read_text()
    assert "Quick smoke run" in text
    for title in ("1. Bulk ingestion", "2. Single writes", "3. Feed pull", "4. Gateway", "5. Growth"):
        assert title in text
