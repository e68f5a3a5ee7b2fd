"""analysis.smc.compat equals smartmoneyconcepts 0.0.27 exactly on every real data file.

Equal means: the same columns in the same order, the same dtypes (float32 where the reference
stores float32), NaN in the same places, and every other value bit-identical.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.candles import Candles, load_csv
from analysis.smc import compat
from tests.conftest import SHARED_KLINES, klines_dir

smc = pytest.importorskip("smartmoneyconcepts").smc

WINDOW = 1000
SWING_LENGTHS = (5, 10, 50)
FILES = sorted(p.relative_to(SHARED_KLINES).as_posix() for p in SHARED_KLINES.rglob("*.csv")) or ["absent"]


def windows(candles: Candles) -> list[Candles]:
    """The first, a middle and the last 1,000 candles."""
    starts = sorted({0, max(0, len(candles) // 2 - WINDOW // 2), max(0, len(candles) - WINDOW)})
    return [candles[s : s + WINDOW] for s in starts]


def frame(candles: Candles) -> pd.DataFrame:
    return pd.DataFrame({name: getattr(candles, name) for name in ("open", "high", "low", "close", "volume")})


def assert_same(ours: dict[str, np.ndarray], reference: pd.DataFrame, what: str) -> None:
    assert list(ours) == list(reference.columns), what
    for name in reference.columns:
        expected, got = reference[name].to_numpy(), ours[name]
        assert got.dtype == expected.dtype, f"{what} {name}: dtype {got.dtype} != {expected.dtype}"
        assert np.array_equal(np.isnan(got), np.isnan(expected)), (
            f"{what} {name}: NaN differs at {np.flatnonzero(np.isnan(got) != np.isnan(expected))[:5]}"
        )
        assert np.array_equal(got, expected, equal_nan=True), (
            f"{what} {name}: differs at {np.flatnonzero((got != expected) & ~np.isnan(expected))[:5]}"
        )


@pytest.mark.parametrize("relative", FILES)
def test_all_five_functions_equal_the_reference(relative: str) -> None:
    candles = load_csv(klines_dir() / relative)
    for part in windows(candles):
        df = frame(part)
        where = f"{relative}@{part.open_time[0]}"
        assert_same(compat.fvg(part), smc.fvg(df), f"fvg {where}")
        for length in SWING_LENGTHS:
            ref_swings = smc.swing_highs_lows(df, length)
            swings = compat.swing_highs_lows(part, length)
            what = f"L={length} {where}"
            assert_same(swings, ref_swings, f"swing_highs_lows {what}")
            assert_same(compat.ob(part, swings), smc.ob(df, ref_swings), f"ob {what}")
            assert_same(compat.bos_choch(part, swings), smc.bos_choch(df, ref_swings), f"bos_choch {what}")
            assert_same(compat.liquidity(part, swings), smc.liquidity(df, ref_swings), f"liquidity {what}")


@pytest.mark.parametrize("relative", FILES[::5])
def test_non_default_options_equal_the_reference(relative: str) -> None:
    part = load_csv(klines_dir() / relative)[-WINDOW:]
    df = frame(part)
    assert_same(compat.fvg(part, join_consecutive=True), smc.fvg(df, join_consecutive=True), "fvg join")
    for length in (5, 20):
        ref_swings, swings = smc.swing_highs_lows(df, length), compat.swing_highs_lows(part, length)
        assert_same(compat.ob(part, swings, close_mitigation=True),
                    smc.ob(df, ref_swings, close_mitigation=True), "ob close_mitigation")
        assert_same(compat.bos_choch(part, swings, close_break=False),
                    smc.bos_choch(df, ref_swings, close_break=False), "bos_choch wick break")
        assert_same(compat.liquidity(part, swings, range_percent=0.002),
                    smc.liquidity(df, ref_swings, range_percent=0.002), "liquidity 0.2%")
        plain = {"HighLow": ref_swings["HighLow"].to_numpy(), "Level": ref_swings["Level"].to_numpy()}
        assert_same(compat.ob(part, plain), smc.ob(df, ref_swings), "ob from plain arrays")
        assert_same(compat.bos_choch(part, plain), smc.bos_choch(df, ref_swings), "bos from plain arrays")
        assert_same(compat.liquidity(part, plain), smc.liquidity(df, ref_swings), "liq from plain arrays")


def test_short_and_flat_series_match_the_reference_edge_cases() -> None:
    """Fewer bars than a swing window, and a run of identical bars (ties everywhere)."""
    real = load_csv(klines_dir() / FILES[0])
    for part in (real[:40], real[:149], real[:151]):
        df = frame(part)
        swings, ref_swings = compat.swing_highs_lows(part, 50), smc.swing_highs_lows(df, 50)
        assert_same(swings, ref_swings, f"short {len(part)}")
        assert_same(compat.bos_choch(part, swings), smc.bos_choch(df, ref_swings), "short bos")
        assert_same(compat.ob(part, swings), smc.ob(df, ref_swings), "short ob")
        assert_same(compat.liquidity(part, swings), smc.liquidity(df, ref_swings), "short liq")
    n = 60
    flat = np.full(n, 100.0)
    flat[30:] = 101.0
    t = np.arange(n, dtype=np.int64) * 60_000
    ties = Candles("TIEUSDT", "1m", t, flat, flat + 0.5, flat - 0.5, flat, np.ones(n))
    df = frame(ties)
    swings, ref_swings = compat.swing_highs_lows(ties, 5), smc.swing_highs_lows(df, 5)
    assert_same(swings, ref_swings, "ties")
    assert_same(compat.ob(ties, swings), smc.ob(df, ref_swings), "ties ob")
    assert_same(compat.liquidity(ties, swings), smc.liquidity(df, ref_swings), "ties liq")


def test_analysis_package_imports_neither_pandas_nor_the_reference() -> None:
    import subprocess
    import sys

    code = ("import sys; import analysis.candles, analysis.indicators, analysis.smc.compat, "
            "analysis.smc.causal, analysis.strategy; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('pandas', 'smartmoneyconcepts', 'numba')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
