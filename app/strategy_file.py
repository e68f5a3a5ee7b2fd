"""The strategy parameter file: read once at start, recorded in the log, written by `main.py calibrate`.

The file (JSON) holds `version`, the walk-forward confidence models oldest first (`models`, each
`analysis.calibration.Calibration.to_dict()` with its `valid_from`; the live system uses the last one,
the backtest the one for each candle), the autosignal policy per interval (`policies`, chosen by
`app.policy_choice`), and how it was fitted (`fitted_on`: files, range, setups). The shipped one,
`analysis/params/strategy.json`, is fitted on 2021-2023 candles only. `STRATEGY_PATH` / `--strategy PATH`
choose another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from analysis.calibration import Calibration
from domain.autosignal import Policy
from domain.events import StrategyLoaded
from eventstore import EventStore, NewEvent

SHIPPED = Path(__file__).resolve().parents[1] / "analysis" / "params" / "strategy.json"
STREAM = "strategy"


@dataclass(frozen=True)
class StrategyFile:
    """A loaded parameter file: where it came from, its version, models (oldest first), per-interval
    policies as stored, and the sha256 of its bytes."""

    path: str
    version: str
    models: tuple[Calibration, ...]
    policies: dict[str, dict[str, Any]]
    sha256: str

    @property
    def calibration(self) -> Calibration:
        """The latest model: what the live system rates signals with."""
        return self.models[-1]

    def policy(self, interval: str, min_confidence: float | None = None, cooldown_min: int | None = None) -> Policy:
        """The autosignal policy for `interval`: the file's (an interval it has none for is disabled), with an
        explicit `min_confidence` (which also enables a disabled interval) or `cooldown_min` in its place."""
        stored = self.policies.get(interval)
        if stored is None:
            stored = {"enabled": False, "min_confidence": 100, "cooldown_min": 60,
                      "why": f"the strategy file has no policy for {interval}"}
        enabled = bool(stored["enabled"]) or min_confidence is not None
        return Policy(min_confidence=stored["min_confidence"] if min_confidence is None else min_confidence,
                      cooldown_ms=(stored["cooldown_min"] if cooldown_min is None else cooldown_min) * 60_000,
                      enabled=enabled, why="" if enabled else str(stored.get("why", "")))


def load(path: str | Path | None = None) -> StrategyFile:
    """The parameter file at `path` (empty or None: the shipped one). ValueError naming the file when bad."""
    where = Path(path) if path else SHIPPED
    try:
        raw = where.read_bytes()
        document = orjson.loads(raw)
        models = tuple(Calibration.from_dict(m) for m in document["models"])
        if not models or [m.valid_from for m in models] != sorted(m.valid_from for m in models):
            raise ValueError("models must be one or more, oldest first")
        policies = {str(k): dict(v) for k, v in document.get("policies", {}).items()}
        return StrategyFile(str(where), str(document["version"]), models, policies, hashlib.sha256(raw).hexdigest())
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"strategy file {where}: {exc}") from None


def write(path: str | Path, version: str, models: tuple[Calibration, ...], policies: dict[str, dict[str, Any]],
          fitted_on: dict[str, Any]) -> None:
    """Write a parameter file (`version` at the top, the models, the policies, how it was fitted)."""
    document = {"version": version, "models": [m.to_dict() for m in models], "policies": policies,
                "fitted_on": fitted_on}
    Path(path).write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")


def record(store: EventStore, loaded: StrategyFile) -> bool:
    """Append StrategyLoaded to stream `strategy` unless the last one recorded is this file; True if appended."""
    records = store.read_stream(STREAM)
    if records and records[-1].data.get("sha256") == loaded.sha256:
        return False
    event = StrategyLoaded(version=loaded.version, sha256=loaded.sha256)
    meta = {"schema": event.schema, "actor": "system"}
    store.append(STREAM, records[-1].version if records else 0, [NewEvent(event.type, event.payload(), meta)])
    return True
