#!/usr/bin/env python3
"""Makes docs/reliability.md from the test suite: every test marked
`@pytest.mark.reliability(area=..., fault=..., outcome=...)` is one row of the table, so that
each row points at a test that runs in `make test`, and the table cannot claim what no test
checks.

    python tools/reliability_table.py            # writes docs/reliability.md
    python tools/reliability_table.py --check    # exits 1 when the file is not what the tests say

The suite is only collected (pytest --collect-only), never run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
HEADER = """# Reliability: what was tried, what happens, and the test that checks it

Every row is a bad input or a fault that was tried on gru_edge, what gru_edge does about it,
and the test in the suite that does it again on every `make test`. The table is generated from
the tests' `reliability` markers by `python tools/reliability_table.py` (a test fails when this
file and the markers disagree): edit the markers, not this file.
"""


@dataclass(frozen=True, order=True)
class Row:
    area: str
    test: str  # path::name, without parameters
    fault: str
    outcome: str


class _Collector:
    """A pytest plugin that keeps the reliability markers of the collected tests."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.errors: list[str] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            test = item.nodeid.split("[", 1)[0]
            for mark in item.iter_markers("reliability"):
                try:
                    given = mark.kwargs
                    self.rows.append(Row(given["area"], test, given["fault"], given["outcome"]))
                except KeyError as e:
                    self.errors.append(f"{test}: the reliability marker needs {e}")


def collect_rows(tests: Path = ROOT / "tests") -> list[Row]:
    collector = _Collector()
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        status = pytest.main(
            ["--collect-only", "-q", "-p", "no:cacheprovider", str(tests)], plugins=[collector]
        )
    if status not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        raise SystemExit(f"collecting {tests} failed:\n{quiet.getvalue()}")
    if collector.errors:
        raise SystemExit("\n".join(collector.errors))
    return sorted(set(collector.rows))


def render(rows: list[Row]) -> str:
    lines = [HEADER]
    areas = sorted({row.area for row in rows})
    lines.append(f"{len(rows)} cases in {len(areas)} areas.\n")
    for area in areas:
        lines += [f"## {area}\n", "| fault tried | what happens | test |", "|---|---|---|"]
        chosen = [row for row in rows if row.area == area]
        lines += [f"| {_cell(r.fault)} | {_cell(r.outcome)} | `{r.test}` |" for r in chosen]
        lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    text = render(collect_rows())
    if args.check:
        if not DOC.exists() or DOC.read_text() != text:
            sys.exit(f"{DOC.relative_to(ROOT)} is out of date: run python {Path(__file__).name}")
        return
    DOC.write_text(text)
    print(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
