"""A Binance-compatible market simulator: `python -m marketsim --help`."""

from marketsim.background import BackgroundSim
from marketsim.market import Market
from marketsim.server import MarketSim, SimStats
from marketsim.sources import market_from_files, synthetic_market

__all__ = ["BackgroundSim", "Market", "MarketSim", "SimStats", "market_from_files", "synthetic_market"]
