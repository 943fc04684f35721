"""docs/reliability.md says what the tests' reliability markers say, and nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_reliability_table_is_made_from_the_current_tests():
    made = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "reliability_table.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr + made.stdout
