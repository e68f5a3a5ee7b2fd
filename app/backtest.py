"""`main.py backtest`: real candles through the live code path, into a real event log, with the figures.

`run_backtest(files, ...)` loads the kline files (each file's last row dropped: it may be a candle
still forming), joins the files of one symbol and interval into one series (aggregated to
`interval` first when asked), replays each series in `app.backtest_sim` (one process per series,
spread over the cores), then writes the autosignals (`autosignal` stream, as the AutoSignal actor
writes them) and their outcomes (`outcomes` stream, as the OutcomeTracker does) to one log, merged in
market time. The autosignal table is folded back from that log with `domain.track_record`, so the
printed figures are the log's; "every setup" (each bar's /analyze answer tracked on its own) and
the baselines stay in memory.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import Manager
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from analysis.candles import INTERVAL_MS, Candles, format_time, interval_ms, load_csv
from analysis.resample import join, resample
from analysis.strategy import Costs
from app import backtest_stats as stats
from app import strategy_file
from app.backtest_sim import SeriesRun, Setup, bar_range, simulate
from app.config import setting
from domain import autosignal, outcomes
from domain.events import AutoSignalEnabled, AutoSignalIssued, Event, upcast
from domain.track_record import ClosedSignal, TrackRecord
from eventstore import EventStore, NewEvent

APPEND_BATCH = 2000  # events per append when writing the log


class BacktestError(ValueError):
    """Bad input for the backtest (a file, a date, an interval); the message is one line for the user."""


@dataclass(frozen=True)
class Series:
    """One symbol and interval, from one or more files."""

    files: tuple[str, ...]
    candles: Candles


@dataclass
class BacktestResult:
    """The log written, the rows behind every table, and the figures (`document` is the --json output)."""

    log_path: str
    autosignals: list[ClosedSignal]  # closed autosignals, folded from the log, in log order
    setups: list[ClosedSignal]  # every setup closed, in market time
    runs: list[SeriesRun] = field(default_factory=list)
    document: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # series with no bar to replay, each with why


def default_setup(min_confidence: float | None = None, cooldown_min: int | None = None, strategy: str | None = None,
                  **range_: Any) -> Setup:
    """The product's settings: the strategy file's (STRATEGY_PATH) models and autosignal policy per interval,
    AUTOSIGNAL_MIN_CONFIDENCE and AUTOSIGNAL_COOLDOWN_MIN when set (or given here) in place of the file's,
    OUTCOME_HORIZON_BARS, FEE_RATE, MAX_FEE_SHARE; BacktestError for a bad strategy file."""
    try:
        loaded = strategy_file.load(strategy or setting("STRATEGY_PATH"))
    except ValueError as exc:
        raise BacktestError(str(exc)) from None
    min_confidence = setting("AUTOSIGNAL_MIN_CONFIDENCE") if min_confidence is None else min_confidence
    cooldown_min = setting("AUTOSIGNAL_COOLDOWN_MIN") if cooldown_min is None else cooldown_min
    policies = {interval: loaded.policy(interval, min_confidence, cooldown_min) for interval in INTERVAL_MS}
    return Setup(policies, *default_costs(), loaded.models, loaded.version, **range_)


def default_costs() -> tuple[outcomes.Rules, Costs]:
    """The outcome rules and trading costs from the settings (OUTCOME_HORIZON_BARS, FEE_RATE, MAX_FEE_SHARE)."""
    rules = outcomes.Rules(setting("OUTCOME_HORIZON_BARS"), setting("FEE_RATE"))
    return rules, Costs(rules.fee_rate, setting("MAX_FEE_SHARE"))


def native_interval_ms(path: str | Path, symbol: str | None) -> int:
    """The candle length of one file, in ms (BacktestError for a bad file)."""
    try:
        return interval_ms(load_csv(path, symbol=symbol).interval)
    except (ValueError, OSError) as exc:
        raise _bad_file(path, exc) from None


def _bad_file(path: str | Path, exc: Exception) -> BacktestError:
    """The error as one line that names the file (a decoding error alone does not say which file)."""
    text = str(exc)
    return BacktestError(text if str(path) in text else f"{path}: {text}")


def load_series(files: Sequence[str | Path], symbol: str | None = None, interval: str | None = None,
                max_hole: int = outcomes.HORIZON_BARS) -> list[Series]:
    """The files as series: last row dropped, aggregated to `interval`, and the files of one symbol and
    interval joined when they overlap or the hole between them is at most `max_hole` bars (else the
    outcome horizon would close trades across it at a price from much later: they stay apart)."""
    groups: dict[tuple[str, str], list[tuple[str, Candles]]] = {}
    for path in files:
        if not Path(path).is_file():
            raise BacktestError(f"{path}: no such file")
        try:
            candles = load_csv(path, symbol=symbol)
            if len(candles) < 2:
                raise ValueError(f"{path}: {len(candles)} candle(s); nothing to replay after dropping the last")
            candles = resample(candles[:-1], interval or candles.interval)
        except ValueError as exc:
            raise _bad_file(path, exc) from None
        groups.setdefault((candles.symbol, candles.interval), []).append((str(path), candles))
    try:
        return [Series(tuple(path for path, _ in chain), join([c for _, c in chain]))
                for parts in groups.values() for chain in _chains(parts, max_hole)]
    except ValueError as exc:
        raise BacktestError(str(exc)) from None


def _chains(parts: list[tuple[str, Candles]], max_hole: int) -> list[list[tuple[str, Candles]]]:
    """Parts of one symbol and interval in time order, grouped where each starts within `max_hole`
    bars after the latest bar of the group before it."""
    parts = sorted(parts, key=lambda part: int(part[1].open_time[0]))
    chains = [[parts[0]]]
    for part in parts[1:]:
        step = interval_ms(part[1].interval)
        reach = max(int(c.open_time[-1]) for _, c in chains[-1]) + (max_hole + 1) * step
        if int(part[1].open_time[0]) <= reach:
            chains[-1].append(part)
        else:
            chains.append([part])
    return chains


def run_backtest(
    files: Sequence[str | Path],
    *,
    symbol: str | None = None,
    interval: str | None = None,
    setup: Setup | None = None,
    db: str | Path | None = None,
    workers: int | None = None,
    progress: TextIO | None = None,
) -> BacktestResult:
    """Backtest `files` and write the log at `db` (default: a new temporary file). BacktestError for bad input.

    `workers` processes (default: one per core, at most one per series; 1 runs in this process).
    `progress`: where to draw a progress bar (the CLI passes stderr when it is a terminal).
    """
    setup = setup or default_setup()
    if setup.start is not None and setup.end is not None and setup.start > setup.end:
        raise BacktestError("--from is after --to")
    if db is not None and Path(db).exists():
        raise BacktestError(f"{db} already exists; the backtest writes a new log")
    series = load_series(files, symbol, interval, setup.rules.horizon_bars)
    reasons = [(s, nothing_to_replay(s, setup)) for s in series]
    skipped = [f"{s.candles.symbol} {s.candles.interval}: {why}" for s, why in reasons if why]
    if len(skipped) == len(series):
        raise BacktestError("nothing to replay: " + "; ".join(skipped))
    series = [s for s, why in reasons if why is None]
    began = time.perf_counter()
    runs = replay_series(series, setup, workers or os.cpu_count() or 1, progress)
    seconds = time.perf_counter() - began
    folder = Path(tempfile.mkdtemp(prefix="backtest-")) if db is None else None  # only once there is a log to write
    log_path = Path(db) if folder is None else folder / "events.db"
    try:
        _write_log(log_path, runs)
        autosignals, still_open = _fold_log(log_path)
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    setups = sorted((row for run in runs for row in run.setups), key=lambda r: r.closed_at or 0)
    result = BacktestResult(str(log_path), autosignals, setups, runs, skipped=skipped)
    result.document = stats.document(result, setup, series, still_open, seconds)
    return result


def nothing_to_replay(series: Series, setup: Setup) -> str | None:
    """Why no bar of `series` can signal within --from/--to (a full window of `history` candles behind it), or None."""
    lo, hi = bar_range(series.candles, setup)
    if hi > lo:
        return None
    times = series.candles.open_time
    upto = int(np.searchsorted(times, setup.end, side="right")) if setup.end is not None else len(times)
    if setup.start is not None and setup.start > int(times[-1]):
        return f"--from is after its last candle ({format_time(int(times[-1]))})"
    if upto < setup.history:
        return (f"needs {setup.history} candles before the first bar; this series has {upto}"
                + (" up to --to" if upto < len(times) else ""))
    return "no bar between --from and --to"


def replay_series(series: list[Series], setup: Setup, workers: int, out: TextIO | None) -> list[SeriesRun]:
    """Each series through the live analysis and deciders (one process per series when `workers` > 1), a
    progress bar on `out`; the runs in the order given (shared by `backtest` and `calibrate`)."""
    bar = _ProgressBar(sum(len(range(*bar_range(s.candles, setup))) for s in series), out)
    if workers <= 1 or len(series) == 1:
        runs = []
        for k, s in enumerate(series):
            runs.append(simulate(s.candles, setup, lambda done, k=k: bar.update(k, done)))
            bar.update(k, runs[-1].bars)
        bar.close()
        return runs
    with Manager() as manager, ProcessPoolExecutor(max_workers=min(workers, len(series))) as pool:
        queue = manager.Queue()
        futures = [pool.submit(_task, s.candles, setup, k, queue) for k, s in enumerate(series)]
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.25)
            while not queue.empty():
                bar.update(*queue.get())
        bar.close()
        return [f.result() for f in futures]


def _task(candles: Candles, setup: Setup, index: int, queue: Any) -> SeriesRun:
    """A worker process's job: one series; progress goes back through the manager's queue."""
    run = simulate(candles, setup, lambda done: queue.put((index, done)))
    queue.put((index, run.bars))
    return run


def _write_log(path: Path, runs: list[SeriesRun]) -> None:
    """The autosignal stream (founding event first, as a fresh live log), then the outcomes stream,
    each merged across series in market time; batched appends, synchronous OFF (a rebuildable file)."""
    issued = sorted(((e, k) for run in runs for e, k in run.autosignal_events), key=lambda ek: _candle_of(ek[1]))
    stream = [(AutoSignalEnabled(by=None), "setting/AUTOSIGNAL_ENABLED"), *issued]
    tracked = [(e, k) for _, e, k in sorted((x for run in runs for x in run.outcome_events), key=lambda x: x[0])]
    path.parent.mkdir(parents=True, exist_ok=True)
    with EventStore.open(path, synchronous="OFF", upcast=upcast) as store:
        _append(store, autosignal.STREAM, stream, "autosignal")
        _append(store, outcomes.STREAM, tracked, "outcomes")


def _candle_of(key: str) -> int:
    """The candle open time in a `SYMBOL/interval/open_time` key (sorting by it is market order)."""
    return int(key.rsplit("/", 1)[1])


def _append(store: EventStore, stream: str, events: list[tuple[Event, str]], actor: str) -> None:
    """Append in batches of about APPEND_BATCH; an issue and its cooldown always share one append."""
    version = 0
    while version < len(events):
        end = min(version + APPEND_BATCH, len(events))
        while end < len(events) and isinstance(events[end - 1][0], AutoSignalIssued):
            end += 1
        store.append(stream, version, [NewEvent(e.type, e.payload(), {"schema": e.schema, "key": key, "actor": actor})
                                       for e, key in events[version:end]])
        version = end


def _fold_log(path: Path) -> tuple[list[ClosedSignal], int]:
    """(closed autosignals in log order, autosignals still open) folded from the written log."""
    record = TrackRecord()
    with EventStore.open(path, upcast=upcast) as store:
        for logged in store.read_all():
            record.apply(logged)
    return record.closed, len(record.open)


class _ProgressBar:
    """`backtest [#####.....] 12,000/50,000 bars, 1,150 bars/s` on a terminal; nothing otherwise."""

    def __init__(self, total: int, out: TextIO | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.out, self.clock = max(total, 1), out, clock
        self.done: dict[int, int] = {}
        self.began = clock()

    def update(self, index: int, done: int) -> None:
        if self.out is None:
            return
        self.done[index] = done
        bars = sum(self.done.values())
        rate = bars / max(self.clock() - self.began, 1e-9)
        filled = min(40, bars * 40 // self.total)
        self.out.write(f"\rbacktest [{'#' * filled}{'.' * (40 - filled)}] {bars:,}/{self.total:,} bars, "
                       f"{rate:,.0f} bars/s")
        self.out.flush()

    def close(self) -> None:
        if self.out is not None:
            self.out.write("\n")
            self.out.flush()


def progress_stream() -> TextIO | None:
    """stderr when it is a terminal (the progress bar's place), else None."""
    return sys.stderr if sys.stderr.isatty() else None
