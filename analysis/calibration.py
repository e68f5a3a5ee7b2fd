"""Calibrated confidence: the probability that a setup reaches TP1 before its stop within the horizon.

A logistic regression (Cox 1958), fitted by Newton's method with a small L2 penalty on standardized
features (Hastie, Tibshirani & Friedman, *The Elements of Statistical Learning*, 4.4), over the
features the reasons name, each read from the signal payload (`analysis.strategy.Signal.to_dict()`):

  long          1 for LONG, 0 for SHORT
  order_block   an order block among the triggers       fvg         a fair value gap among them
  break         a BOS or CHOCH among them                with_trend  EMA50 beyond EMA200 on the side
  ema_stack     EMA21/50/200 stacked on the side         ema21_side  the close beyond EMA21 on the side
  volume        log of the 20-bar volume ratio           rsi_side    (RSI(14) - 50) / 50, signed by the side
  stop_atr      |entry - stop| / ATR(14)                 stop_pct    log of |entry - stop| in % of entry
  one_target    1 when tp2 is null                       interval    log of the interval in hours

The label is TP1 reached before the stop within the horizon; an expired setup did not reach it. Pure
numpy: `fit` turns labelled feature rows into a `Calibration`, whose `probability` the analysis evaluates;
`with_records` adds what the setups did per 10-point confidence band (n, % TP1 first, average R after
fees), the record line every signal shows.

Walk-forward (`walk_forward`): one model per calendar quarter start, each fitted only on the setups whose
outcome was known before that start (their horizon ended), from the first quarter with MIN_HISTORY of them;
`model_at` picks, for a candle, the latest model that starts at or before it, so no signal's confidence
uses its own outcome or a later one. Before the first model a signal has no calibrated confidence.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from analysis.candles import interval_ms

FEATURES = ("long", "order_block", "fvg", "break", "with_trend", "ema_stack", "ema21_side", "volume", "rsi_side",
            "stop_atr", "stop_pct", "one_target", "interval")
L2 = 1.0  # penalty on the standardized coefficients (the intercept is free)
HOUR_MS = 3_600_000
MIN_HISTORY = 2_000  # closed setups (about 150 per feature) before a walk-forward model may rate signals


def features(signal: Mapping[str, Any]) -> np.ndarray:
    """The FEATURES of one signal payload; a missing indicator counts as false or zero."""
    side = 1.0 if signal["side"] == "LONG" else -1.0
    smc = signal.get("smc") or {}
    kinds = {t.split(":")[1] for t in (signal.get("setup") or {}).get("triggers", [])}
    entry, stop = float(signal["entry"]), float(signal["stop"])
    risk = abs(entry - stop)

    def value(key: str) -> float:
        v = smc.get(key)
        return math.nan if v is None else float(v)

    e21, e50, e200, rsi, atr, volume = (value(k) for k in ("ema21", "ema50", "ema200", "rsi", "atr", "volume_ratio"))
    price = float(smc.get("price", entry))
    row = [
        side > 0,
        "OB" in kinds,
        "FVG" in kinds,
        bool(kinds & {"BOS", "CHOCH"}),
        (e50 - e200) * side > 0,
        (e21 - e50) * side > 0 and (e50 - e200) * side > 0,
        (price - e21) * side > 0,
        math.log(volume) if volume > 0 else 0.0,
        0.0 if math.isnan(rsi) else (rsi - 50.0) / 50.0 * side,
        risk / atr if atr > 0 else 0.0,
        math.log(risk / entry * 100.0) if risk > 0 and entry > 0 else 0.0,
        signal.get("tp2") is None,
        math.log(interval_ms(signal["interval"]) / HOUR_MS),
    ]
    return np.array(row, dtype=np.float64)


@dataclass(frozen=True)
class Calibration:
    """A fitted model: standardization (`mean`, `scale`), coefficients, intercept, and its `version`;
    `valid_from` (ms): the first candle it may rate (it saw only outcomes known before then)."""

    version: str
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    period: str = ""  # the years of the setups behind `records`, e.g. "2021-2023"
    records: tuple[tuple[int, int, float, float], ...] = ()  # (band low %, n, % TP1 first, average R)
    valid_from: int = 0

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """P(TP1 before the stop within the horizon) for feature rows `x`, 0..1."""
        z = (x - np.array(self.mean)) / np.array(self.scale)
        return 1.0 / (1.0 + np.exp(-(self.intercept + z @ np.array(self.coef))))

    def probability(self, signal: Mapping[str, Any]) -> float:
        """P(TP1 before the stop within the horizon) for one signal payload, 0..1."""
        return float(self.probabilities(features(signal)[None, :])[0])

    def record(self, confidence: int) -> dict[str, Any] | None:
        """What the fitted setups of this confidence's 10-point band did; None when the band had none."""
        low = min(confidence // 10 * 10, 90)
        for band, n, tp1_pct, avg_r in self.records:
            if band == low:
                return {"band": f"{band}-{band + 9 if band < 90 else 100}", "n": n, "tp1_first_pct": tp1_pct,
                        "avg_r": avg_r, "period": self.period}
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "features": list(FEATURES), "mean": list(self.mean),
                "scale": list(self.scale), "coef": list(self.coef), "intercept": self.intercept,
                "period": self.period, "records": [list(r) for r in self.records], "valid_from": self.valid_from}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """ValueError when the stored model is not one over FEATURES."""
        if list(data.get("features", [])) != list(FEATURES):
            raise ValueError(f"the model's features {data.get('features')} are not {list(FEATURES)}")
        if {len(data.get(k, ())) for k in ("mean", "scale", "coef")} != {len(FEATURES)} or not data.get("version"):
            raise ValueError("a model needs a version and one mean, scale and coef per feature")
        return cls(str(data["version"]), tuple(map(float, data["mean"])), tuple(map(float, data["scale"])),
                   tuple(map(float, data["coef"])), float(data["intercept"]), str(data.get("period", "")),
                   tuple((int(b), int(n), float(p), float(r)) for b, n, p, r in data.get("records", [])),
                   int(data.get("valid_from", 0)))


def fit(x: np.ndarray, reached: Sequence[bool], version: str, iterations: int = 50) -> Calibration:
    """Logistic regression of `reached` (TP1 first) on feature rows `x` (one `features()` row per setup).
    ValueError when there are too few setups or only one outcome."""
    y = np.asarray(reached, dtype=np.float64)
    if len(y) < 10 * len(FEATURES) or y.min() == y.max():
        raise ValueError(f"{len(y)} closed setups, {int(y.sum())} reaching TP1: too few to fit "
                         f"{len(FEATURES)} features (at least {10 * len(FEATURES)}, both outcomes)")
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    design = np.hstack([np.ones((len(y), 1)), (x - mean) / scale])
    penalty = np.diag([0.0] + [L2] * len(FEATURES))
    beta = np.zeros(design.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))
        step = np.linalg.solve((design * (p * (1 - p))[:, None]).T @ design + penalty,
                               design.T @ (y - p) - penalty @ beta)
        beta += step
        if np.max(np.abs(step)) < 1e-9:
            break
    return Calibration(version, tuple(mean.tolist()), tuple(scale.tolist()), tuple(beta[1:].tolist()),
                       float(beta[0]))


def with_records(model: Calibration, confidence: np.ndarray, reached: np.ndarray, result_r: np.ndarray,
                 period: str) -> Calibration:
    """`model` with the record of setups rated `confidence` (%; TP1 first `reached`, `result_r` in R after fees)
    per 10-point band, over `period`."""
    bands = np.minimum(np.asarray(confidence, dtype=int) // 10 * 10, 90)
    records = tuple((int(band), int(np.sum(bands == band)), round(100 * float(reached[bands == band].mean()), 1),
                     round(float(result_r[bands == band].mean()), 3)) for band in np.unique(bands))
    return replace(model, period=period, records=records)


def quarter_starts(first: int, last: int) -> list[int]:
    """UTC calendar quarter starts (ms) after `first` up to the first one after `last`."""
    day = datetime.fromtimestamp(first / 1000, UTC)
    year, quarter = day.year, (day.month - 1) // 3
    starts: list[int] = []
    while not starts or starts[-1] <= last:
        year, quarter = (year + 1, 0) if quarter == 3 else (year, quarter + 1)
        starts.append(int(datetime(year, 3 * quarter + 1, 1, tzinfo=UTC).timestamp() * 1000))
    return starts


def walk_forward(x: np.ndarray, reached: np.ndarray, known_at: np.ndarray, version: str,
                 min_history: int = MIN_HISTORY) -> tuple[Calibration, ...]:
    """One model per quarter start (oldest first), each fitted on the setups with `known_at` (ms: when the
    outcome was settled) before it; quarters with under `min_history` such setups get none. Versions are
    `version@YYYY-MM-DD` (the start)."""
    models = []
    for start in quarter_starts(int(known_at.min()), int(known_at.max())):
        seen = known_at < start
        if seen.sum() >= min_history and 0 < reached[seen].sum() < seen.sum():
            day = datetime.fromtimestamp(start / 1000, UTC).strftime("%Y-%m-%d")
            models.append(replace(fit(x[seen], reached[seen], f"{version}@{day}"), valid_from=start))
    return tuple(models)


def model_at(models: Sequence[Calibration], open_time: int) -> Calibration | None:
    """The latest of `models` (oldest first) whose `valid_from` is at or before the candle `open_time`."""
    k = bisect.bisect_right([m.valid_from for m in models], open_time)
    return models[k - 1] if k else None
