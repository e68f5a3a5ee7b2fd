"""Walk-forward confidence and the per-interval policy: each model sees only outcomes settled before it
starts, a candle is rated by the latest model started at or before it, and the strategy file's policy for
an interval (disabled: no autosignals) is what the backtest applies."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.calibration import FEATURES, MIN_HISTORY, model_at, walk_forward
from app import strategy_file
from app.backtest import default_setup, run_backtest
from domain.events import upcast
from eventstore import EventStore
from tests.conftest import klines_dir

DAY = 86_400_000
T2022 = 1_640_995_200_000  # 2022-01-01 00:00 UTC
SLICE = [str(klines_dir() / f"intabyu__interview-at/data/BTCUSDT-1h-2023-0{m}.csv") for m in (1, 2)]
FEB_2023 = 1_675_209_600_000  # 2023-02-01 00:00 UTC


def setups(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    reached = rng.random(n) < 1 / (1 + np.exp(-x[:, 0]))
    known_at = np.sort(T2022 + rng.integers(0, 365 * DAY, n))
    return x, reached, known_at


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=8, unique=True), st.integers(-10, 2 * 10**6))
def test_a_candle_is_rated_by_the_latest_model_started_at_or_before_it(starts: list[int], candle: int) -> None:
    base = strategy_file.load().calibration
    models = tuple(replace(base, version=str(s), valid_from=s) for s in sorted(starts))
    chosen = model_at(models, candle)
    if chosen is None:
        assert all(s > candle for s in starts)  # before the first model: no calibrated confidence
    else:
        assert chosen.valid_from <= candle and not any(chosen.valid_from < s <= candle for s in starts)


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 2**31), st.integers(182, 400))  # from the first start with MIN_HISTORY settled (1 July)
def test_no_model_sees_an_outcome_settled_at_or_after_its_start(seed: int, cut_day: int) -> None:
    x, reached, known_at = setups(3 * MIN_HISTORY, seed)
    models = walk_forward(x, reached, known_at, "t")
    cut = T2022 + cut_day * DAY
    flipped = np.where(known_at >= cut, ~reached, reached)  # rewrite every outcome settled from `cut` on
    again = {m.valid_from: m for m in walk_forward(x, flipped, known_at, "t")}
    before = [m for m in models if m.valid_from <= cut]
    assert before and all(again[m.valid_from] == m for m in before)
    assert all(np.sum(known_at < m.valid_from) >= MIN_HISTORY for m in models)
    assert [m.version for m in models] == sorted(m.version for m in models)


def test_the_file_policy_per_interval_and_what_overrides_it(tmp_path: Path) -> None:
    shipped = strategy_file.load()
    path = tmp_path / "s.json"
    policies = {"1h": {"enabled": False, "min_confidence": 60, "cooldown_min": 60, "why": "no lower bound above 0"},
                "4h": {"enabled": True, "min_confidence": 50, "cooldown_min": 60, "why": "≥50%"}}
    strategy_file.write(path, "v1", shipped.models, policies, {})
    loaded = strategy_file.load(path)
    assert loaded.version == "v1" and loaded.models == shipped.models and len(loaded.sha256) == 64
    four, hour, five = loaded.policy("4h"), loaded.policy("1h"), loaded.policy("5m")
    assert (four.enabled, four.min_confidence, four.cooldown_ms) == (True, 50, 3_600_000)
    assert (hour.enabled, hour.why) == (False, "no lower bound above 0")
    assert not five.enabled and "no policy for 5m" in five.why  # an interval the file does not name
    assert loaded.policy("1h", min_confidence=40).enabled  # an explicit threshold turns it on
    assert not loaded.policy("1h", cooldown_min=5).enabled  # a cooldown alone does not
    assert loaded.policy("4h", cooldown_min=5).cooldown_ms == 300_000
    strategy_file.write(path, "v1", shipped.models, {**policies, "1d": policies["4h"]}, {})
    assert strategy_file.load(path).sha256 != loaded.sha256  # same version, other bytes: another sha256


def test_the_backtest_applies_the_interval_policy_and_the_model_before_each_candle(tmp_path: Path) -> None:
    base = strategy_file.load().calibration
    models = (replace(base, version="v@jan", valid_from=FEB_2023 - 10 * DAY), replace(base, version="v@feb",
                                                                                     valid_from=FEB_2023))
    path = tmp_path / "s.json"
    strategy_file.write(path, "v", models, {"1h": {"enabled": False, "min_confidence": 0, "cooldown_min": 0,
                                                   "why": "off in this file"}}, {})
    off = run_backtest(SLICE, setup=default_setup(strategy=str(path)), db=tmp_path / "off.db", workers=1)
    assert off.autosignals == [] and off.document["policy"]["1h"]["enabled"] is False
    rated = [r for r in off.setups if r.confidence is not None]
    assert rated and len(rated) < len(off.setups)  # setups before the first model have no confidence
    on = run_backtest(SLICE, setup=default_setup(0, 0, strategy=str(path)), db=tmp_path / "on.db", workers=1)
    assert on.document["policy"]["1h"]["enabled"] is True
    with EventStore.open(tmp_path / "on.db", upcast=upcast) as store:
        issued = [r.data["signal"] for r in store.read_all() if r.type == "AutoSignalIssued"]
    assert issued and min(s["open_time"] for s in issued) >= FEB_2023 - 10 * DAY
    assert {s["strategy_version"] for s in issued} == {"v@jan", "v@feb"}
    assert all(s["strategy_version"] == ("v@feb" if s["open_time"] >= FEB_2023 else "v@jan") for s in issued)
