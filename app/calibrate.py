"""`main.py calibrate`: the strategy parameter file from kline files.

Every setup of the files (the backtest's replay, without a model) with its features and whether it
reached TP1 before the stop within the horizon; walk-forward logistic models, one per quarter, each
fitted on the outcomes settled before it (`analysis.calibration.walk_forward`); each setup rated by
the model before its candle; from those ratings the per-band record line and the autosignal policy
per interval (`app.policy_choice`). The last model, fitted on every setup, is the one the live system uses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analysis.calibration import MIN_HISTORY, Calibration, model_at, walk_forward, with_records
from analysis.candles import format_time, interval_ms
from app import policy_choice, strategy_file
from app.backtest import BacktestError, default_costs, load_series, native_interval_ms, replay_series
from app.backtest_sim import SeriesRun, Setup


def confidences(runs: Sequence[SeriesRun], models: Sequence[Calibration]) -> list[np.ndarray]:
    """Per run, each setup's confidence (%, rounded as the analysis does) from the model before its candle;
    NaN where no model was fitted yet."""
    out = []
    for run in runs:
        times = run.table.get("open_time", np.array([], dtype=np.int64))
        rated = np.full(len(times), np.nan)
        for k, t in enumerate(times.tolist()):
            model = model_at(models, t)
            if model is not None:
                rated[k] = round(100 * float(model.probabilities(run.features[k][None, :])[0]))
        out.append(rated)
    return out


Fitted = tuple[str, tuple[Calibration, ...], dict[str, dict[str, Any]], dict[str, Any]]


def fit_strategy(runs: Sequence[SeriesRun], horizon_bars: int, min_history: int = MIN_HISTORY) -> Fitted:
    """(version, walk-forward models, policies, summary) from replayed `runs` (no model in the replay)."""
    runs = [run for run in runs if len(run.features)]
    if not runs:
        raise BacktestError("no setup in these files: nothing to calibrate on")
    keeps = [~np.isnan(run.table["result_r"]) for run in runs]
    x = np.concatenate([run.features[keep] for run, keep in zip(runs, keeps, strict=True)])
    y = np.concatenate([run.table["tp1_first"][keep] for run, keep in zip(runs, keeps, strict=True)])
    r = np.concatenate([run.table["result_r"][keep] for run, keep in zip(runs, keeps, strict=True)])
    known = np.concatenate([run.table["open_time"][keep] + (horizon_bars + 1) * interval_ms(run.interval)
                            for run, keep in zip(runs, keeps, strict=True)])  # settled by the horizon's last close
    if not len(y):
        raise BacktestError("no setup closed in these files: nothing to calibrate on")
    first, last = min(int(run.first) for run in runs), max(int(run.last) for run in runs)
    version = f"logit-wf-{format_time(first)[:10]}..{format_time(last)[:10]}-{len(y)}"
    models = walk_forward(x, y, known, version, min_history)
    if not models:
        raise BacktestError(f"{len(y)} closed setups: too few for a walk-forward model")
    rated = confidences(runs, models)
    wf = np.concatenate([c[keep] for c, keep in zip(rated, keeps, strict=True)])
    has = ~np.isnan(wf)  # the record line: what setups did at the confidence the model before them gave
    years = "–".join(sorted({format_time(first)[:4], format_time(last)[:4]}))
    models = tuple(with_records(m, wf[has], y[has], r[has], years) for m in models)  # one record line for all
    summary = {"setups": len(y), "rated_walk_forward": int(has.sum()), "first": first, "last": last}
    return version, models, policy_choice.choose(runs, rated), summary


def calibrate(files: Sequence[str | Path], out: str | Path, *, symbol: str | None = None,
              intervals: Sequence[str] = (), workers: int | None = None,
              min_history: int = MIN_HISTORY) -> strategy_file.StrategyFile:
    """Replay `files` (each of `intervals` aggregates the files whose candles divide it; none: as they are),
    fit, choose the policies and write the parameter file to `out`; the file as loaded back."""
    _check_output(Path(out))
    for interval in intervals:
        try:
            interval_ms(interval)
        except ValueError as exc:
            raise BacktestError(str(exc)) from None
    setup = Setup({}, *default_costs())
    native = {f: native_interval_ms(f, symbol) for f in files} if intervals else {}  # each file read once
    series = []
    for interval in intervals or [None]:
        usable = [f for f in files if interval is None or interval_ms(interval) % native[f] == 0]
        series += load_series(usable, symbol, interval, setup.rules.horizon_bars) if usable else []
    runs = replay_series(series, setup, workers or os.cpu_count() or 1, None)
    version, models, policies, summary = fit_strategy(runs, setup.rules.horizon_bars, min_history)
    strategy_file.write(out, version, models, policies, {
        "files": [Path(f).name for s in series for f in s.files], "series": [f"{r.symbol} {r.interval}" for r in runs],
        **summary, "horizon_bars": setup.rules.horizon_bars, "fee_rate": setup.rules.fee_rate,
        "max_fee_share": setup.costs.max_fee_share, "policy_rule": policy_choice.RULE})
    return strategy_file.load(out)


def _check_output(out: Path) -> None:
    """Refuse an --out that cannot be written before the fit, not after minutes of it."""
    if out.is_dir():
        raise BacktestError(f"--out {out} is a directory; name the parameter file to write")
    folder = out.parent
    if not folder.is_dir():
        raise BacktestError(f"--out {out}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise BacktestError(f"--out {out} is not writable by this user")
