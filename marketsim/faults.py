"""Fault injection: what the simulator does wrong, when asked to (never by default).

`Faults` is the live switchboard the server consults; its setters are plain attribute writes,
so tests may flip them from any thread. `FaultSchedule` turns CLI specs such as
`drop:every=5` or `stall:every=7,for=1.5` into periodic faults (times in real seconds).
"""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass, field

FRAME_FAULTS = ("duplicate", "reorder", "malformed")
PERIODIC_FAULTS = ("drop", "stall", "outage", "shutdown", "rest429", "rest418")


@dataclass
class RestError:
    status: int
    retry_after: int | None


@dataclass
class Faults:
    """Current fault state; frame probabilities apply per kline frame, the rest until a deadline."""

    duplicate: float = 0.0
    reorder: float = 0.0
    malformed: float = 0.0
    outage_until: float = 0.0
    fatal_status: int | None = None
    conn_lifetime_s: float = 86_400.0  # simulated seconds, Binance's 24 h cut
    rest_errors: deque[RestError] = field(default_factory=deque)
    drop_requested: int = 0
    shutdown_requested: int = 0
    stall_requests: deque[float] = field(default_factory=deque)
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def in_outage(self) -> bool:
        return time.monotonic() < self.outage_until

    def chance(self, p: float) -> bool:
        return p > 0 and self.rng.random() < p

    def next_rest_error(self) -> RestError | None:
        if self.fatal_status is not None:
            return RestError(self.fatal_status, None)
        try:
            return self.rest_errors.popleft()
        except IndexError:
            return None


@dataclass(frozen=True)
class FaultSpec:
    name: str
    every: float = 0.0
    duration: float = 0.0
    p: float = 0.0
    retry_after: int = 1


def parse_fault(spec: str) -> FaultSpec:
    """Parse `name[:key=value,...]`; keys: every, for (seconds), p (probability), retry_after."""
    name, _, params = spec.partition(":")
    known = (*FRAME_FAULTS, *PERIODIC_FAULTS, "rest451")
    if name not in known:
        raise ValueError(f"unknown fault {name!r}; expected one of {', '.join(known)}")
    values: dict[str, float] = {}
    for item in filter(None, params.split(",")):
        key, sep, value = item.partition("=")
        if not sep or key not in ("every", "for", "p", "retry_after"):
            raise ValueError(f"bad fault parameter {item!r} in {spec!r} (use every=, for=, p=, retry_after=)")
        try:
            values[key] = float(value)
        except ValueError:
            raise ValueError(f"fault parameter {key} must be a number, got {value!r}") from None
    parsed = FaultSpec(
        name,
        every=values.get("every", 0.0),
        duration=values.get("for", 1.0),
        p=values.get("p", 0.05),
        retry_after=int(values.get("retry_after", 1)),
    )
    if name in PERIODIC_FAULTS and parsed.every <= 0:
        raise ValueError(f"fault {name} needs every=SECONDS")
    return parsed


class FaultSchedule:
    """Applies periodic fault specs to a `Faults` switchboard as real time passes."""

    def __init__(self, specs: list[FaultSpec], faults: Faults) -> None:
        self._faults = faults
        now = time.monotonic()
        self._periodic = [(spec, now + spec.every) for spec in specs if spec.name in PERIODIC_FAULTS]
        for spec in specs:
            if spec.name in FRAME_FAULTS:
                setattr(faults, spec.name, spec.p)
            elif spec.name == "rest451":
                faults.fatal_status = 451

    def tick(self) -> None:
        now = time.monotonic()
        for i, (spec, due) in enumerate(self._periodic):
            if now >= due:
                self._apply(spec)
                self._periodic[i] = (spec, now + spec.every)

    def _apply(self, spec: FaultSpec) -> None:
        f = self._faults
        match spec.name:
            case "drop":
                f.drop_requested += 1
            case "stall":
                f.stall_requests.append(spec.duration)
            case "outage":
                f.outage_until = time.monotonic() + spec.duration
                f.drop_requested += 1
            case "shutdown":
                f.shutdown_requested += 1
            case "rest429" | "rest418":
                f.rest_errors.append(RestError(int(spec.name[4:]), spec.retry_after))
