"""The autosignal policy per interval, chosen on the fitting data by one coarse rule (`main.py calibrate`).

For each interval and each threshold of GRID (calibrated %), the live autosignal decider
(`domain.autosignal`: setup identity, previous bar, cooldown COOLDOWN_MIN, at least one bar) runs over
every setup of the replay with its walk-forward confidence (the model fitted before its candle; none
before the first model, so not issued). The issued setups' R after fees, pooled over the interval's
series, gets a 95% interval from the week block bootstrap (`app.backtest_stats.week_bootstrap`). A
threshold qualifies with at least MIN_N closed autosignals and a lower bound above 0; the interval's
policy is the qualifying threshold with the highest lower bound, else the interval is disabled (it
issues no autosignals). Three thresholds, one cooldown and a minimum n: coarse on purpose, so the
choice does not fit the noise of the fitting files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from analysis.candles import interval_ms
from app.backtest_sim import SeriesRun
from app.backtest_stats import week_bootstrap
from domain import autosignal

INTERVALS = ("15m", "30m", "1h", "4h", "1d")
GRID = (40, 50, 60)
COOLDOWN_MIN = 60
MIN_N = 100
RULE = (f"per interval: thresholds {'/'.join(map(str, GRID))}% with a {COOLDOWN_MIN} min cooldown through the live "
        f"decider over walk-forward confidences; enabled at the threshold with the highest week-block-bootstrap "
        f"95% lower bound of R after fees when that bound is above 0 with n >= {MIN_N}, else disabled")


def issued(run: SeriesRun, confidence: np.ndarray, policy: autosignal.Policy) -> np.ndarray:
    """Which setups of `run` (its table's rows, `confidence` in % or NaN) the decider auto-issues under `policy`.
    Bars without a setup change no state in the decider, so the setup rows alone replay it exactly."""
    t, step = run.table, interval_ms(run.interval)
    state = autosignal.initial()
    out = np.zeros(len(t["open_time"]), dtype=bool)
    for k, open_time in enumerate(t["open_time"].tolist()):
        rated = not np.isnan(confidence[k])
        signal = {"symbol": run.symbol, "interval": run.interval, "open_time": open_time,
                  "side": "LONG" if t["side"][k] > 0 else "SHORT",
                  "confidence": int(confidence[k]) if rated else None, "setup": {"triggers": list(run.triggers[k])}}
        close = open_time + step - 1
        decided = autosignal.decide(state, autosignal.Evaluate(run.symbol, run.interval, open_time, close, signal),
                                    close, policy)
        if isinstance(decided, list) and decided:
            state = autosignal.fold(decided, state)
            out[k] = True
    return out


def evidence(runs: Sequence[SeriesRun], confidences: Sequence[np.ndarray], threshold: int) -> dict[str, Any]:
    """Closed autosignals at `threshold` over `runs`: n, average R after fees, 95% week-bootstrap interval."""
    policy = autosignal.Policy(min_confidence=threshold, cooldown_ms=COOLDOWN_MIN * 60_000)
    r, times = [], []
    for run, confidence in zip(runs, confidences, strict=True):
        keep = issued(run, confidence, policy) & ~np.isnan(run.table["result_r"])
        r.append(run.table["result_r"][keep])
        times.append(run.table["open_time"][keep])
    result, open_time = np.concatenate(r) if r else np.array([]), np.concatenate(times) if times else np.array([])
    ci = week_bootstrap(result, open_time) if len(result) else None
    return {"min_confidence": threshold, "n": len(result),
            "avg_r": round(float(result.mean()), 4) if len(result) else None, "ci95": ci}


def choose(runs: Sequence[SeriesRun], confidences: Sequence[np.ndarray]) -> dict[str, dict[str, Any]]:
    """The policy per interval of INTERVALS (as stored in the strategy file), with the evidence behind it."""
    policies = {}
    for interval in INTERVALS:
        mine = [k for k, run in enumerate(runs) if run.interval == interval and len(run.table.get("open_time", ()))]
        rows = [evidence([runs[k] for k in mine], [confidences[k] for k in mine], t) for t in GRID]
        good = [e for e in rows if e["n"] >= MIN_N and e["ci95"] is not None and e["ci95"][0] > 0]
        best = max(good, key=lambda e: e["ci95"][0], default=None)
        policies[interval] = {
            "enabled": best is not None,
            "min_confidence": best["min_confidence"] if best else max(GRID),
            "cooldown_min": COOLDOWN_MIN,
            "why": (f"≥{best['min_confidence']}%: lower bound {best['ci95'][0]:+.3f} R (n = {best['n']:,})" if best else
                    f"no threshold of {'/'.join(map(str, GRID))}% had {MIN_N}+ walk-forward autosignals with a 95% "
                    f"lower bound above 0 R in the fitting data"),
            "evidence": rows,
        }
    return policies
