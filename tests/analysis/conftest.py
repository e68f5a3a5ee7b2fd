"""Reports the confidence-band frequencies measured by the strategy tests at the end of the run."""

from __future__ import annotations

import pytest

BANDS = pytest.StashKey[dict[str, int]]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    bands = terminalreporter.config.stash.get(BANDS, None)
    if not bands:
        return
    total = sum(bands.values())
    terminalreporter.write_sep("-", f"analysis: outcome of analyze() on {total} real 1,000-candle windows")
    for band, count in bands.items():
        terminalreporter.write_line(f"{band:>22}: {count:5d}  ({count / total:6.1%})")
