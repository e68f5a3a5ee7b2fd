"""The backtest's figures: track-record tables, baselines with block-bootstrap intervals, calibration.

Baselines trade the same bars with the same stop and target distances, only the side chosen
otherwise: at random (mean over `SEEDS` seeds) or by the EMA50/EMA200 trend the analysis saw. Each
bar's two sides were run through the outcome decider in the simulation, so a baseline only picks
one of the two results. The difference of mean R gets a 95% interval from a bootstrap that
resamples calendar weeks (UTC, Monday first) with replacement, seeded, so a rerun prints the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.candles import interval_ms
from analysis.resample import bucket_start
from app.backtest_sim import BAR_FIELDS, SeriesRun, Setup
from domain.track_record import ClosedSignal, summarize

if TYPE_CHECKING:
    from app.backtest import BacktestResult, Series

SEEDS = 100  # random-side baseline: seeds averaged
RESAMPLES = 2000  # block bootstrap draws
BOOTSTRAP_SEED = 11


def table(rows: Sequence[ClosedSignal], open_at_end: int, repeats: int, counts: dict[str, int]) -> dict[str, Any]:
    """domain.track_record.summarize per `SYMBOL interval` and overall, with the open and repeated counts and
    the issue's zero-counts (`counts`: repeated_setups, equal_targets, fees_over_max_share)."""
    labels = sorted({f"{r.symbol} {r.interval}" for r in rows})
    return {
        "overall": asdict(summarize(rows)),
        "by_symbol": {label: asdict(summarize(r for r in rows if f"{r.symbol} {r.interval}" == label))
                      for label in labels},
        "open_at_end": open_at_end,
        "repeats": repeats,
        **counts,
    }


def repeats(runs: Iterable[SeriesRun], autosignals_only: bool) -> int:
    """Signals with the same symbol and side as a signal of the same set on the previous bar."""
    count = 0
    for run in runs:
        t = run.table
        if not len(t.get("open_time", ())):
            continue
        keep = t["auto"] if autosignals_only else np.ones(len(t["open_time"]), dtype=bool)
        times, sides = t["open_time"][keep], t["side"][keep]
        count += int(np.sum((np.diff(times) == interval_ms(run.interval)) & (sides[1:] == sides[:-1])))
    return count


def merged_table(runs: Iterable[SeriesRun]) -> dict[str, np.ndarray]:
    """The per-setup table of every series, concatenated."""
    tables = [run.table for run in runs if len(run.table.get("open_time", ()))]
    if not tables:
        return {name: np.array([]) for name in BAR_FIELDS}
    return {name: np.concatenate([t[name] for t in tables]) for name in BAR_FIELDS}


def week_bootstrap(diff: np.ndarray, open_time: np.ndarray, resamples: int = RESAMPLES,
                   seed: int = BOOTSTRAP_SEED) -> tuple[float, float] | None:
    """95% interval of mean(diff), resampling calendar weeks with replacement; None under two weeks."""
    weeks, inverse = np.unique(bucket_start(open_time, "1w"), return_inverse=True)
    if len(weeks) < 2:
        return None
    sums = np.bincount(inverse, weights=diff)
    counts = np.bincount(inverse).astype(np.float64)
    draw = np.random.default_rng(seed).integers(0, len(weeks), (resamples, len(weeks)))
    means = sums[draw].sum(axis=1) / counts[draw].sum(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return round(float(low), 4), round(float(high), 4)


def baselines(t: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, Any]:
    """Strategy vs random side and vs trend side on the bars in `keep` whose both sides closed (R after fees)."""
    keep = keep & ~np.isnan(t["result_r"]) & ~np.isnan(t["mirror_r"])
    own, mirror, side = t["result_r"][keep], t["mirror_r"][keep], t["side"][keep]
    times = t["open_time"][keep]
    if not len(own):
        return {"bars": 0}
    trend = np.where(t["trend"][keep] == side, own, mirror)
    draws = np.stack([np.random.default_rng(seed).integers(0, 2, len(own)) for seed in range(SEEDS)])
    random = np.where(np.where(draws == 1, 1, -1) == side, own, mirror).mean(axis=0)  # per bar, mean of seeds
    out: dict[str, Any] = {"bars": len(own), "strategy_avg_r": round(float(own.mean()), 4),
                           "strategy_ci95": week_bootstrap(own, times)}
    for name, base in (("random_side", random), ("trend_side", trend)):
        diff = own - base
        out[name] = {"avg_r": round(float(base.mean()), 4), "difference": round(float(diff.mean()), 4),
                     "ci95": week_bootstrap(diff, times)}
    out["random_side"]["seeds"] = SEEDS
    return out


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties sharing their average rank."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    starts = np.cumsum(counts) - counts
    return (starts + (counts - 1) / 2)[inverse]


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman rank correlation (ties averaged); None when undefined (under 3 pairs or a constant)."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(a) < 3:
        return None
    ra, rb = _ranks(a), _ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return None
    return round(float(np.corrcoef(ra, rb)[0, 1]), 4)


CALIBRATION_MIN_N = 100  # bands with at least this many signals are checked ...
CALIBRATION_TOLERANCE = 5.0  # ... to realise TP1 first within this many points of their stated confidence


def calibration(rows: Sequence[ClosedSignal]) -> dict[str, Any]:
    """Confidence in 10-point bands (90-100 the last) -> n, mean stated confidence, % TP1 before stop, average R;
    Spearman; and `calibrated`: every band of at least CALIBRATION_MIN_N within CALIBRATION_TOLERANCE points."""
    rated = [r for r in rows if r.confidence is not None]
    bands = []
    for low in range(0, 100, 10):
        band = [r for r in rated if low <= r.confidence < low + 10 or (low == 90 and r.confidence == 100)]
        if band:
            bands.append({"band": f"{low}-{low + 9 if low < 90 else 100}", "n": len(band),
                          "stated_pct": round(sum(r.confidence for r in band) / len(band), 1),
                          "tp1_first_pct": round(100 * sum(r.tp1_first for r in band) / len(band), 1),
                          "avg_r": round(sum(r.result_r for r in band) / len(band), 3)})
    checked = [b for b in bands if b["n"] >= CALIBRATION_MIN_N]
    return {"bands": bands,
            "spearman": spearman([r.confidence for r in rated], [r.result_r for r in rated]),
            "calibrated": bool(checked) and all(abs(b["tp1_first_pct"] - b["stated_pct"]) <= CALIBRATION_TOLERANCE
                                                for b in checked)}


def _counts(runs: Sequence[SeriesRun], name: str, fee_heavy: np.ndarray) -> dict[str, int]:
    """The zero-counts of one set of signals over every series."""
    return {key: sum(run.counts[name][key] for run in runs) for key in ("repeated_setups", "equal_targets")} | {
        "fees_over_max_share": int(np.sum(fee_heavy))}


def policy(setup: Setup, interval: str) -> dict[str, Any]:
    """The autosignal policy the backtest applied on `interval`."""
    p = setup.policy(interval)
    return {"enabled": p.enabled, "min_confidence": p.min_confidence, "cooldown_min": p.cooldown_ms // 60_000,
            "why": p.why}


def document(result: BacktestResult, setup: Setup, series: Sequence[Series], autosignals_open: int,
             seconds: float) -> dict[str, Any]:
    """Everything the backtest prints, as one JSON-ready document."""
    runs = result.runs
    bars = sum(run.bars for run in runs)
    merged = merged_table(runs)
    every = np.ones(len(merged["open_time"]), dtype=bool)
    heavy = merged["fee_share"] > setup.costs.max_fee_share
    return {
        "log": result.log_path,
        "policy": {run.interval: policy(setup, run.interval) for run in runs},
        "strategy_version": setup.version,
        "outcome_rules": {"horizon_bars": setup.rules.horizon_bars, "fee_rate": setup.rules.fee_rate,
                          "max_fee_share": setup.costs.max_fee_share},
        "history": setup.history,
        "series": [{"symbol": run.symbol, "interval": run.interval, "files": list(s.files), "bars": run.bars,
                    "first": run.first, "last": run.last} for s, run in zip(series, runs, strict=True)],
        "bars": bars,
        "seconds": round(seconds, 2),
        "bars_per_s": round(bars / seconds) if seconds > 0 else None,
        "autosignal": table(result.autosignals, autosignals_open, repeats(runs, autosignals_only=True),
                            _counts(runs, "autosignal", heavy & merged["auto"].astype(bool))),
        "every_setup": table(result.setups, sum(run.setups_open for run in runs), repeats(runs, False),
                             _counts(runs, "every_setup", heavy)),
        "baselines": {"autosignal": baselines(merged, merged["auto"].astype(bool)),
                      "every_setup": baselines(merged, every)},
        "calibration": {"autosignal": calibration(result.autosignals), "every_setup": calibration(result.setups)},
    }
