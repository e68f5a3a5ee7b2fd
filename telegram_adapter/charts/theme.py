"""Chart colours: one colour per meaning, in a dark and a light theme (setting CHART_THEME)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Theme:
    """Hex colours by meaning. Zones are shaded in their side's candle colour (demand `up`, supply `down`)."""

    background: str
    grid: str
    text: str
    muted: str  # axis ticks and the footer
    up: str  # bullish candles and demand zones
    down: str  # bearish candles and supply zones
    entry: str
    stop: str
    target: str  # TP1 and TP2
    structure: str  # the BOS / CHOCH level

    def level(self, role: str) -> str:
        """The colour of a trade level by role: 'entry', 'stop' or 'target'."""
        return {"entry": self.entry, "stop": self.stop, "target": self.target}[role]


THEMES: dict[str, Theme] = {
    "dark": Theme(background="#131722", grid="#2a2e39", text="#e6e8ee", muted="#9598a1",
                  up="#26a69a", down="#ef5350", entry="#40c4ff", stop="#ff1744", target="#00e676",
                  structure="#ffd740"),
    "light": Theme(background="#ffffff", grid="#e0e3eb", text="#131722", muted="#5d606b",
                   up="#089981", down="#f23645", entry="#2962ff", stop="#d50000", target="#00a152",
                   structure="#ff6f00"),
}
