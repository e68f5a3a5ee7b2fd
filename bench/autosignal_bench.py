"""AutoSignal: market-to-log latency, and a 10,000-recipient broadcast through the real Sender.

    .venv/bin/python bench/autosignal_bench.py [--symbols 25] [--candles 40] [--recipients 10000] [--scale 20]

1. Latency: `marketsim` replays real 1h candles for N symbols; the real MarketFeed, analyzer
   pool and AutoSignal (min confidence 0, no cooldown, so every setup issues) run against it;
   for each closed candle, from the simulator writing the closed kline to the resulting
   `AutoSignalIssued` committed: p50/p99 (goal: p99 <= 50 ms at 25 symbols).
2. Broadcast: one autosignal owed to N lifetime-premium users, delivered by the aiogram Sender
   against the fake Bot API server with Telegram's limits scaled up `--scale` times (and the
   Sender's rate scaled alike): achieved rate as a share of the configured rate, 429s received,
   most sends in flight at once (goals: >= 95 %, no 429, never above the Sender's concurrency).
"""

from __future__ import annotations

import argparse
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
from domain.events import upcast  # noqa: E402
from eventstore import EventStore, NewEvent  # noqa: E402
from tests.autosignal_support import Close, RecordedFeed, ScriptedAnalyzer, SenderLoop, signal_at  # noqa: E402
from tests.conftest import SHARED_KLINES  # noqa: E402

HAWK = SHARED_KLINES / "azmath606961__hawk-crypto-bot" / "data"
FILES = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT")
TELEGRAM_RATE = 25.0  # the Sender's default messages/s
TELEGRAM_GLOBAL = 30  # what Telegram allows overall per second
SENDER_CONCURRENCY = 8


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# --- 2. broadcast --------------------------------------------------------------------------


class GaugedTransport:
    """Wraps the Sender's transport to count sends in flight (the Sender's view, not the server's)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.in_flight = 0
        self.most = 0
        self.first: float | None = None
        self.last = 0.0

    async def send(self, chat_id: int, text: str) -> int:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        self.first = self.first or time.perf_counter()
        try:
            return await self.inner.send(chat_id, text)
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
            actor = AutoSignal.start(store, feed, analyzer, interval="1h")
            actor.proxy().version.get()
            feed.tell(Close("BTCUSDT", 500))
            deadline = time.monotonic() + 10 + 3 * recipients / rate
            while time.monotonic() < deadline and settled(store) < recipients:
                time.sleep(0.25)
            pykka.ActorRegistry.stop_all()
        transport = sending.transport
        issued = store.read_stream("autosignal")
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
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--scale", type=int, default=20, help="Telegram limits and Sender rate multiplier")
    args = parser.parse_args()

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
