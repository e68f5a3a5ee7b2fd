"""`python -m marketsim`: serve a simulated Binance on 127.0.0.1.

The first stdout line is `{"ws": "ws://127.0.0.1:PORT", "rest": "http://127.0.0.1:PORT"}`;
nothing else is printed on stdout (logs go to stderr). Runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

import orjson

from analysis.candles import INTERVAL_MS
from marketsim.faults import parse_fault
from marketsim.server import MarketSim
from marketsim.sources import market_from_files, synthetic_market


def _symbols(text: str) -> list[str]:
    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not symbols:
        raise argparse.ArgumentTypeError("give at least one symbol, e.g. BTCUSDT,ETHUSDT")
    return symbols


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m marketsim", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", nargs="+", metavar="PATH", help="kline CSV files, one per symbol")
    source.add_argument("--synthetic", type=int, metavar="SEED", help="seeded synthetic market")
    p.add_argument("--symbols", type=_symbols, default=["BTCUSDT", "ETHUSDT"],
                   help="comma-separated; the n-th --data file is the n-th symbol")
    p.add_argument("--interval", choices=list(INTERVAL_MS), default=None,
                   help="synthetic candle interval (default 1m); with --data it must match the files")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--skip", type=int, default=0, help="skip the first N rows of each data file")
    p.add_argument("--limit", type=int, default=None, help="serve at most N rows of each data file")
    p.add_argument("--history", type=int, default=None,
                   help="candles already closed at start (default min(1000, half the data))")
    p.add_argument("--fault", action="append", default=[], metavar="SPEC", type=_fault,
                   help="repeatable: drop:every=S | stall:every=S,for=S | outage:every=S,for=S | "
                        "shutdown:every=S | rest429:every=S,retry_after=S | rest418:every=S,retry_after=S | "
                        "rest451 | duplicate:p=P | reorder:p=P | malformed:p=P (S in real seconds)")
    p.add_argument("--conn-lifetime", type=float, default=86_400.0, metavar="SIM_SECONDS",
                   help="cut every WebSocket after this much simulated time (Binance: 24 h)")
    p.add_argument("--seed", type=int, default=0, help="seed for fault randomness")
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO on stderr")
    return p


def _fault(spec: str):
    try:
        return parse_fault(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _market(args: argparse.Namespace):
    if args.synthetic is not None:
        return synthetic_market(args.symbols, args.interval or "1m", args.synthetic,
                                history=1000 if args.history is None else args.history)
    market = market_from_files(args.data, args.symbols, skip=args.skip, limit=args.limit, history=args.history)
    if args.interval and args.interval != market.base_interval:
        raise ValueError(f"--interval {args.interval} but the data is {market.base_interval}")
    return market


async def _serve(args: argparse.Namespace) -> None:
    sim = MarketSim(_market(args), args.speed, port=args.port, fault_specs=tuple(args.fault), seed=args.seed)
    sim.set_connection_lifetime(args.conn_lifetime)
    urls = await sim.start()
    sys.stdout.write(orjson.dumps(urls).decode() + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)
    if args.speed <= 0:
        print("marketsim: --speed must be positive", file=sys.stderr)
        return 2
    if args.data and len(args.data) != len(args.symbols):
        print(f"marketsim: {len(args.data)} --data files for {len(args.symbols)} --symbols "
              "(the n-th file is the n-th symbol)", file=sys.stderr)
        return 2
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(args))
    except (OSError, ValueError) as exc:
        print(f"marketsim: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
