"""Child process for the kill -9 broadcast test: AutoSignal + the real Sender until killed.

    python tests/autosignal_broadcast_child.py DB BOT_API_URL RATE [charts]

Issues one autosignal (a scripted LONG on a real BTCUSDT candle) to every lifetime user in the
log, unless the log says it was issued already, and delivers through the aiogram Sender (with
`charts`: as a photo, drawn by the stand-in job in a process pool). It prints "ready" once running
and then serves until the parent kills it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from actors.autosignal import AutoSignal  # noqa: E402
from analysis.candles import load_csv  # noqa: E402
from domain.autosignal import Policy  # noqa: E402
from domain.events import upcast  # noqa: E402
from eventstore import EventStore  # noqa: E402
from tests.autosignal_support import Close, RecordedFeed, ScriptedAnalyzer, SenderLoop, signal_at  # noqa: E402
from tests.conftest import SHARED_KLINES  # noqa: E402
from tests.fakes.chart_jobs import stand_in_charts  # noqa: E402

HISTORY = 500


def main(db: str, api_url: str, rate: float, charts: bool) -> None:
    store = EventStore.open(db, upcast=upcast)
    path = SHARED_KLINES / "azmath606961__hawk-crypto-bot" / "data" / "BTCUSDT_1h.csv"
    candles = load_csv(path, symbol="BTCUSDT", interval="1h")[: HISTORY + 1]
    feed = RecordedFeed.start({"BTCUSDT": candles}, history=HISTORY)
    make_charts = (lambda: stand_in_charts(Path(db).parent / "charts", feed)) if charts else None
    with SenderLoop(store, api_url, charts=make_charts, rate=rate, per_chat_interval=0.05, concurrency=8):
        analyzer = ScriptedAnalyzer.start(signal_at("LONG", confidence=90))
        actor = AutoSignal.start(store, feed, analyzer, interval="1h", policy=Policy(75, 60 * 60_000))
        actor.proxy().version.get()
        feed.tell(Close("BTCUSDT", HISTORY))  # a repeat after a restart: acknowledged, nothing new
        print("ready", flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:] == ["charts"])
