"""Pure helpers over Binance's symbol lists: exchangeInfo parsing and the top-N USDT ranking."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

STABLECOINS = frozenset((
    "USDC", "BUSD", "TUSD", "FDUSD", "USDP", "DAI", "PAX", "UST", "USTC", "USDS", "USDSB", "SUSD",
    "EUR", "EURI", "AEUR", "EURC", "GBP", "AUD", "BRL", "TRY", "PYUSD", "USDE", "USD1", "RLUSD",
    "XUSD", "BFUSD", "USDD", "FRAX", "LUSD", "GUSD", "USDJ", "IDRT", "BIDR", "BKRW", "VAI", "ZUSD",
))
LEVERAGED_SUFFIXES = ("UP", "DOWN", "BULL", "BEAR")


@dataclass(frozen=True)
class SymbolInfo:
    base: str
    quote: str
    status: str
    tick_size: float | None


def parse_exchange_info(body: object) -> dict[str, SymbolInfo]:
    """Symbols of a spot or USD-M exchangeInfo answer (futures: perpetual contracts only)."""
    entries = body.get("symbols") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise ValueError("exchangeInfo answer has no 'symbols' list")
    symbols = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("symbol"), str):
            continue
        if entry.get("contractType", "PERPETUAL") not in ("PERPETUAL", ""):
            continue
        tick = None
        for f in entry.get("filters", ()):
            if isinstance(f, dict) and f.get("filterType") == "PRICE_FILTER":
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    tick = float(f["tickSize"]) or None
        symbols[entry["symbol"]] = SymbolInfo(
            str(entry.get("baseAsset", "")), str(entry.get("quoteAsset", "")), str(entry.get("status", "")), tick
        )
    return symbols


def is_leveraged(base: str, bases: set[str]) -> bool:
    """BTCUP, ETHDOWN, BNBBULL... are leveraged tokens when the plain base also trades (JUP is not)."""
    return any(base.endswith(s) and base[: -len(s)] in bases for s in LEVERAGED_SUFFIXES)


def top_usdt_pairs(tickers: object, symbols: dict[str, SymbolInfo], n: int) -> tuple[str, ...]:
    """The n trading USDT pairs with the largest 24 h quote volume, without stablecoins or leveraged tokens."""
    if not isinstance(tickers, list):
        raise ValueError("ticker/24hr answer is not a list")
    bases = {info.base for info in symbols.values() if info.quote == "USDT"}
    ranked = []
    for ticker in tickers:
        info = symbols.get(ticker.get("symbol", "")) if isinstance(ticker, dict) else None
        if info is None or info.quote != "USDT" or info.status != "TRADING" or info.base in STABLECOINS:
            continue
        if is_leveraged(info.base, bases):
            continue
        with contextlib.suppress(TypeError, ValueError):
            ranked.append((float(ticker.get("quoteVolume", 0)), ticker["symbol"]))
    ranked.sort(key=lambda pair: (-pair[0], pair[1]))
    return tuple(symbol for _, symbol in ranked[:n])
