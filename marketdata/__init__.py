"""Binance market data: endpoints, payloads, symbols, candle books, and the feed engine that keeps them live."""
