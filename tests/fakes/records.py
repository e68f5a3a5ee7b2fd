"""A logged event made by hand, for the pure projections and invariants (they need only these fields)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rec:
    position: int
    stream: str
    type: str
    data: dict[str, Any]
    recorded_at: int = 0
