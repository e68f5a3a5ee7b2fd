"""AutoSignal: market-to-log latency, and a 10,000-recipient broadcast through the real Sender.

    .venv/bin/python bench/autosignal_bench.py [--symbols 25] [--candles 40] [--rounds 3]
                                               [--recipients 10000] [--scale 20]

1. Latency: `marketsim` replays real 1h candles for N symbols; the real MarketFeed, analyzer
   pool (threads, then processes) and AutoSignal (min confidence 0, no cooldown, so every setup
   issues) run against it, the simulator in its own process as Binance would be;
   for each closed candle, from the simulator writing the closed kline to the resulting
   `AutoSignalIssued` committed: p50/p99 (goal: p99 <= 50 ms at 25 symbols).
2. Broadcast: one autosignal owed to N lifetime-premium users, delivered by the aiogram Sender
   against the fake Bot API server with Telegram's limits scaled up `--scale` times (and the
   Sender's rate scaled alike): achieved rate as a share of the configured rate, 429s received,
   most sends in flight at once (goals: >= 95 %, no 429, never above the Sender's concurrency).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pykka

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/ holds the fake Bot API server and the kline folder helper

from actors.autosignal import AutoSignal  # noqa: E402
from analysis.candles import load_csv  # noqa: E402
from domain.autosignal import Policy  # noqa: E402
from domain.events import upcast  # noqa: E402
from eventstore import EventStore, NewEvent  # noqa: E402
from tests.autosignal_support import Close, RecordedFeed, ScriptedAnalyzer, SenderLoop, signal_at  # noqa: E402
from tests.conftest import SHARED_KLINES  # noqa: E402

HAWK = SHARED_KLINES / "azmath606961__hawk-crypto-bot" / "data"
FILES = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT")
TELEGRAM_RATE = 25.0  # the Sender's default messages/s
TELEGRAM_GLOBAL = 30  # what Telegram allows overall per second
SENDER_CONCURRENCY = 8
WARM_UP_CLOSES = 2  # first closes left out of the latency figures (connections, caches, first jobs)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# --- 1. latency ---------------------------------------------------------------------------


def real_market(symbols: int, history: int, candles: int):
    """`symbols` series of real 1h candles: the 5 files, each cut at several offsets, on one timeline."""
    from analysis.candles import Candles
    from marketsim import Market

    rows = history + candles
    files = {name: load_csv(HAWK / f"{name}_1h.csv", symbol=name, interval="1h") for name in FILES}
    series: dict[str, Candles] = {}
    anchor = None
    for k in range(symbols):
        name, cut = FILES[k % len(FILES)], k // len(FILES)
        part = files[name][cut * rows : (cut + 1) * rows]
        anchor = int(part.open_time[0]) if anchor is None else anchor
        symbol = name if cut == 0 else f"{name[:-4]}{cut}USDT"
        shift = anchor - int(part.open_time[0])
        series[symbol] = Candles(
            symbol, "1h", part.open_time + shift, part.open, part.high, part.low, part.close, part.volume
        )
    return Market(series, history=history)


def serve_market(pipe, symbols: int, history: int, candles: int, speed: float) -> None:
    """Child process: the simulator, as Binance would be, outside the bot's process (and its GIL).

    Sends the URLs, then, once the last candle has closed, the write log: (stream, open time,
    perf_counter_ns) per frame; CLOCK_MONOTONIC is system-wide, so the parent can subtract.
    """
    from marketsim import BackgroundSim, MarketSim

    market = real_market(symbols, history, candles)
    with BackgroundSim(lambda: MarketSim(market, speed, record_writes=True, paused=True)) as sim:
        pipe.send((sim.urls, market.symbols))
        pipe.recv()  # the bot has loaded the history: let the market move
        sim.resume()
        while sim.clock.now_ms() < market.end_ms + 3_600_000:
            time.sleep(0.05)
        time.sleep(0.5)
        pipe.send(list(sim.write_log))
        pipe.recv()


def warm_up(pool) -> None:
    """Give every worker a first job before measuring (a worker process starts on its first job)."""
    from concurrent.futures import Future

    from actors.messages import Analyze

    candles = load_csv(HAWK / "BTCUSDT_1h.csv", symbol="WARMUSDT", interval="1h")
    requests = [Analyze("WARMUSDT", "1h", candles[i : i + 500], reply_to=Future()) for i in range(4 * pool.size)]
    for request in requests:
        pool.tell(request)
    for request in requests:
        request.reply_to.result(60)


def latency(symbols: int, candles: int, speed: float, processes: bool) -> dict:
    """Simulator close write -> AutoSignalIssued committed, for every candle that yields a setup."""
    import multiprocessing

    from actors.analyzer import AnalyzerPool
    from actors.market_feed import MarketFeed
    from actors.messages import FeedStats
    from marketdata.feed_config import FeedConfig

    commits: dict[tuple[str, int], int] = {}

    def on_commit(records) -> None:
        now = time.perf_counter_ns()
        for r in records:
            if r.type == "AutoSignalIssued":
                signal = r.data["signal"]
                commits[(f"{signal['symbol'].lower()}@kline_1h", signal["open_time"])] = now

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    sim = ctx.Process(target=serve_market, args=(child, symbols, 500, candles, speed), daemon=True)
    sim.start()
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore.open(Path(tmp) / "events.db", upcast=upcast)
        store.subscribe(on_commit)
        pool = AnalyzerPool.start(workers=2, processes=processes)
        warm_up(pool)
        urls, watchlist = parent.recv()
        config = FeedConfig(
            ws_url=urls["ws"],
            rest_url=urls["rest"],
            watchlist=watchlist,
            intervals=("1h",),
            update_period_s=1.0,
            backoff_base_s=0.05,
            backoff_cap_s=1.0,
            healthy_after_s=0.5,
        )
        feed = MarketFeed.start(config)
        actor = AutoSignal.start(store, feed, pool, interval="1h", policy=Policy(0, 0))
        actor.proxy().version.get()
        deadline = time.monotonic() + 60
        while feed.ask(FeedStats()).closed_emitted < len(watchlist) * 500 and time.monotonic() < deadline:
            time.sleep(0.1)
        parent.send("go")
        if not parent.poll(60 + 2 * candles * 3600 / speed):
            raise RuntimeError("the simulator did not finish")
        write_log = parent.recv()
        parent.send("stop")
        pykka.ActorRegistry.stop_all()
        pool.stop()
        store.close()
    sim.join(10)
    writes: dict[tuple[str, int], int] = {}
    for stream, open_time, ns in write_log:  # the close is the last frame written for its open time
        writes[(stream, open_time)] = max(ns, writes.get((stream, open_time), 0))
    skipped = sorted({open_time for _, open_time in commits})[:WARM_UP_CLOSES]
    samples = [(commits[k] - writes[k]) / 1e6 for k in commits if k in writes and k[1] not in skipped]
    return {
        "symbols": symbols,
        "closes": len(writes),
        "issued": len(commits),
        "p50": percentile(samples, 50) if samples else float("nan"),
        "p99": percentile(samples, 99) if samples else float("nan"),
        "max": max(samples, default=float("nan")),
    }


# --- 2. broadcast --------------------------------------------------------------------------


class GaugedTransport:
    """Wraps the Sender's transport to count sends in flight (the Sender's view, not the server's)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.in_flight = 0
        self.most = 0
        self.first: float | None = None
        self.last = 0.0

    async def send(self, chat_id: int, text: str, reply_to: int | None = None) -> int:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        self.first = self.first or time.perf_counter()
        try:
            return await self.inner.send(chat_id, text, reply_to)
        finally:
            self.in_flight -= 1
            self.last = time.perf_counter()


def seed_premium_users(store: EventStore, n: int) -> None:
    def grant(user: int) -> None:
        store.append(f"user-{user}", 0, [NewEvent("PremiumGranted", {"until": None, "lifetime": True}, {"schema": 1})])

    with ThreadPoolExecutor(64) as pool:
        list(pool.map(grant, range(1_000_001, 1_000_001 + n)))


def broadcast(recipients: int, scale: int) -> dict:
    from tests.fakes.bot_api import FakeBotAPI

    rate = TELEGRAM_RATE * scale
    candles = load_csv(HAWK / "BTCUSDT_1h.csv", symbol="BTCUSDT", interval="1h")[:600]
    limits = {"global_per_s": TELEGRAM_GLOBAL * scale, "per_chat_rate": 1.0 * scale, "per_chat_burst": 3.0 * scale}
    with tempfile.TemporaryDirectory() as tmp, FakeBotAPI(**limits) as fake:
        store = EventStore.open(Path(tmp) / "events.db", upcast=upcast)
        t0 = time.perf_counter()
        seed_premium_users(store, recipients)
        seeded = time.perf_counter() - t0
        options = {"rate": rate, "per_chat_interval": 1.0 / scale, "concurrency": SENDER_CONCURRENCY}
        with SenderLoop(store, fake.base_url, wrap=GaugedTransport, **options) as sending:
            feed = RecordedFeed.start({"BTCUSDT": candles}, history=500)
            analyzer = ScriptedAnalyzer.start(signal_at("LONG", confidence=90))
            actor = AutoSignal.start(store, feed, analyzer, interval="1h", policy=Policy(75, 60 * 60_000))
            actor.proxy().version.get()
            feed.tell(Close("BTCUSDT", 500))
            deadline = time.monotonic() + 10 + 3 * recipients / rate
            while time.monotonic() < deadline and settled(store) < recipients:
                time.sleep(0.25)
            pykka.ActorRegistry.stop_all()
        transport = sending.transport
        issued = [r for r in store.read_stream("autosignal") if r.type == "AutoSignalIssued"]
        outcomes = [r for r in store.read_stream("outbox") if r.type != "DeliveryAttempted"]
        store.close()
    delivered = sum(1 for r in outcomes if r.type == "SignalDelivered")
    elapsed = (transport.last - transport.first) if transport.first else float("nan")
    achieved = delivered / elapsed if elapsed else 0.0
    return {
        "recipients": len(issued[0].data["recipients"]) if issued else 0,
        "seeded_s": seeded,
        "delivered": delivered,
        "settled": len(outcomes),
        "seconds": elapsed,
        "rate": achieved,
        "configured": rate,
        "share": achieved / rate,
        "429s": sum(1 for c in fake.calls if c.status == 429),
        "most_in_flight": transport.most,
    }


def settled(store: EventStore) -> int:
    return sum(1 for r in store.read_stream("outbox") if r.type != "DeliveryAttempted")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=25)
    parser.add_argument("--candles", type=int, default=40, help="closed candles per symbol in the latency run")
    parser.add_argument("--speed", type=float, default=18_000.0, help="simulated seconds per real second")
    parser.add_argument("--rounds", type=int, default=3, help="latency rounds per pool kind (machine noise)")
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--scale", type=int, default=20, help="Telegram limits and Sender rate multiplier")
    args = parser.parse_args()
    if not HAWK.is_dir():
        sys.exit(f"real Binance klines not found at {HAWK} (../shared is absent)")

    runs = [(5, False)] + [(args.symbols, False)] * args.rounds + [(args.symbols, True)] * args.rounds
    p99s: dict[bool, list[float]] = {False: [], True: []}
    for n, processes in runs:
        r = latency(n, args.candles, args.speed, processes)
        pool = "2 worker processes" if processes else "2 worker threads"
        print(
            f"latency, {r['symbols']} symbols, {pool}: {r['issued']} autosignals from {r['closes']} closes; "
            f"close written -> AutoSignalIssued committed p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, "
            f"max {r['max']:.1f} ms"
        )
        if n == args.symbols:
            p99s[processes].append(r["p99"])
    for processes, values in p99s.items():
        pool = "processes" if processes else "threads"
        print(
            f"  {args.symbols} symbols, worker {pool}: median p99 over {len(values)} rounds "
            f"{statistics.median(values):.1f} ms (goal <= 50 ms)"
        )
    b = broadcast(args.recipients, args.scale)
    print(
        f"broadcast: {b['recipients']} recipients (seeded in {b['seeded_s']:.1f} s), "
        f"{b['delivered']} delivered, {b['settled']} settled in {b['seconds']:.1f} s"
    )
    print(
        f"  achieved {b['rate']:.0f} msg/s of {b['configured']:.0f} configured = {b['share']:.1%} "
        f"(goal >= 95%), 429s received: {b['429s']} (goal 0), "
        f"most in flight: {b['most_in_flight']} (Sender concurrency {SENDER_CONCURRENCY})"
    )


if __name__ == "__main__":
    main()
