"""The strategy parameter file: read once at start, recorded in the log, written by `main.py calibrate`.

The file (JSON) holds `version` and the confidence model (`analysis.calibration.Calibration.to_dict()`),
plus how it was fitted (`fitted_on`: files, range, setups). The shipped one, `analysis/params/strategy.json`,
is fitted on 2021-2023 candles only. `STRATEGY_PATH` / `--strategy PATH` choose another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from analysis.calibration import Calibration
from domain.events import StrategyLoaded
from eventstore import EventStore, NewEvent

SHIPPED = Path(__file__).resolve().parents[1] / "analysis" / "params" / "strategy.json"
STREAM = "strategy"


@dataclass(frozen=True)
class StrategyFile:
    """A loaded parameter file: where it came from, its model and the sha256 of its bytes."""

    path: str
    calibration: Calibration
    sha256: str

    @property
    def version(self) -> str:
        return self.calibration.version


def load(path: str | Path | None = None) -> StrategyFile:
    """The parameter file at `path` (empty or None: the shipped one). ValueError naming the file when bad."""
    where = Path(path) if path else SHIPPED
    try:
        raw = where.read_bytes()
        return StrategyFile(str(where), Calibration.from_dict(orjson.loads(raw)["model"]),
                            hashlib.sha256(raw).hexdigest())
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"strategy file {where}: {exc}") from None


def write(path: str | Path, calibration: Calibration, fitted_on: dict[str, Any]) -> None:
    """Write a parameter file (`version` at the top, the model, how it was fitted)."""
    document = {"version": calibration.version, "model": calibration.to_dict(), "fitted_on": fitted_on}
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
