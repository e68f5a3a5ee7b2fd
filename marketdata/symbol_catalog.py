"""The exchange's symbols as far as the feed has asked: loaded from exchangeInfo, ranked by 24 h volume."""

from __future__ import annotations

import time

from marketdata.binance_client import BinanceRest, Unavailable
from marketdata.binance_symbols import SymbolInfo, parse_exchange_info, top_usdt_pairs


class SymbolCatalog:
    """What the feed knows of Binance's symbols, and the top-N ranking (its ticker answer reused for a minute)."""

    def __init__(self, rest: BinanceRest, market: str) -> None:
        self.rest = rest
        self.market = market
        self.known: dict[str, SymbolInfo] = {}
        self._tickers: tuple[float, list[dict]] | None = None

    async def load(self, symbol: str | None = None) -> None:
        """Every symbol's info, or only `symbol`'s (a -1121 BinanceError says it does not exist)."""
        body = await self.rest.get("exchangeInfo", {"symbol": symbol} if symbol else None)
        try:
            self.known.update(parse_exchange_info(body))
        except ValueError as exc:
            raise Unavailable(str(exc)) from None

    def error(self, symbol: str) -> str:
        """Why `symbol` cannot be streamed, or "" if it can."""
        info = self.known.get(symbol)
        if info is None:
            return f"{symbol} is not a symbol on Binance {self.market}"
        if info.status != "TRADING":
            return f"{symbol} is not trading on Binance {self.market} (status {info.status})"
        return ""

    def tick(self, symbol: str) -> float | None:
        info = self.known.get(symbol)
        return info.tick_size if info is not None else None

    async def top(self, n: int, fresh: bool = False) -> tuple[str, ...]:
        """The n USDT pairs by 24 h quote volume, without stablecoin pairs and leveraged tokens."""
        if fresh:
            self._tickers = None
        now = time.monotonic()
        if self._tickers is None or now - self._tickers[0] > 60:
            self._tickers = (now, await self.rest.get("ticker/24hr"))
        if not self.known:
            await self.load()
        try:
            return top_usdt_pairs(self._tickers[1], self.known, n)
        except ValueError as exc:
            raise Unavailable(str(exc)) from None
