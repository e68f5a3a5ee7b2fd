"""A market feed serving real Binance candles from the shared CSV files, and a rule analyzer.

The feed stands in for the network MarketFeed (it answers the same messages); the analyzer
stands in for the analysis pool with a simple, predictable rule so tests can say which
symbols produce a setup. Neither is the thing under test.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pykka

from actors.messages import (
    AnalysisResult,
    Analyze,
    CandleClosed,
    EnsureStream,
    FeedError,
    GetCandles,
    Kline,
    StreamReady,
    SubscribeCandles,
    TopSymbols,
    answer,
)
from analysis.candles import Candles, load_csv

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT")


def load_market(klines: Path, bars: int = 600) -> dict[str, Candles]:
    """The last `bars` 1h candles of each symbol in the hawk-crypto-bot files."""
    folder = klines / "azmath606961__hawk-crypto-bot" / "data"
    return {s: load_csv(folder / f"{s}_1h.csv", symbol=s, interval="1h")[-bars:] for s in SYMBOLS}


@dataclass(frozen=True)
class CloseCandle:
    """Test -> CandleFeed: a new 1h candle of `symbol` closed (kept, and told to subscribers)."""

    symbol: str
    candle: Kline


class CandleFeed(pykka.ThreadingActor):
    """Answers EnsureStream / GetCandles / TopSymbols from preloaded 1h candles; `CloseCandle` adds one."""

    def __init__(self, market: dict[str, Candles], not_ready: frozenset[str] = frozenset(),
                 full: frozenset[str] = frozenset()) -> None:
        """`not_ready` symbols are loading; `full` ones are refused as beyond the cap on on-demand streams."""
        super().__init__()
        self.market = dict(market)
        self.not_ready = not_ready
        self.full = full
        self.subscribers: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        match message:
            case TopSymbols(n):
                return answer(message, tuple(self.market)[:n])
            case EnsureStream(symbol, interval) | GetCandles(symbol, interval):
                return answer(message, self._serve(message, symbol, interval))
            case SubscribeCandles(subscriber):
                self.subscribers.append(subscriber)
            case CloseCandle(symbol, k):
                c = self.market[symbol]
                self.market[symbol] = replace(c, **{f: np.append(getattr(c, f), getattr(k, f)) for f in
                                                    ("open_time", "open", "high", "low", "close", "volume")})
                for subscriber in self.subscribers:
                    subscriber.tell(CandleClosed(symbol, c.interval, k, True))
        return None

    def _serve(self, message: Any, symbol: str, interval: str) -> Any:
        if symbol not in self.market:
            return FeedError(f"{symbol} is not traded", "unknown_symbol")
        if isinstance(message, EnsureStream) and symbol in self.full:
            return FeedError("the bot already follows its maximum of 2 markets on demand", "capacity")
        if interval != "1h" or symbol in self.not_ready:
            return FeedError(f"{symbol} {interval} is loading", "not_ready")
        candles = self.market[symbol]
        if isinstance(message, EnsureStream):
            return StreamReady(symbol, interval, len(candles))
        return candles[-message.n:]


@dataclass(frozen=True)
class RuleSignal:
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


class RuleAnalyzer(pykka.ThreadingActor):
    """LONG above the 50-bar mean, SHORT below; `quiet` symbols give a no-setup market read."""

    def __init__(self, quiet: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.quiet = quiet

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Analyze):
            return answer(message, AnalysisResult(RuleSignal(self._read(message))))
        return None

    def _read(self, message: Analyze) -> dict[str, Any]:
        c = message.candles
        close = float(c.close[-1])
        mean = float(np.mean(c.close[-50:]))
        base = {"symbol": message.symbol, "interval": message.interval, "open_time": int(c.open_time[-1]),
                "smc": {"trend": "bullish" if close > mean else "bearish", "order_blocks": [1, 2]}}
        if message.symbol in self.quiet:
            return {**base, "reason": "price inside the range <mid>", "bias": base["smc"]["trend"]}
        risk = float(np.mean(c.high[-14:] - c.low[-14:]))
        sign = 1 if close > mean else -1
        return {**base, "close_time": int(c.close_time[-1]), "side": "LONG" if sign > 0 else "SHORT",
                "entry": close, "stop": close - sign * risk, "tp1": close + sign * risk,
                "tp2": close + 2 * sign * risk, "rr1": 1.0, "rr2": 2.0, "confidence": 70,
                "reasons": ["close vs 50-bar mean", "<b>tags</b> & symbols stay escaped"], "precision": 2}
