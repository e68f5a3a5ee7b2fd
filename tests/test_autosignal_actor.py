"""The AutoSignal actor over a real event-store file: persist-then-act, restarts, admin commands."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from pathlib import Path

import pykka
import pytest

from actors.autosignal import AutoSignal
from actors.messages import AnalysisFailed, AutoSignalCommand, BeginShutdown, Decision
from analysis.candles import load_csv
from domain.autosignal import Policy
from domain.events import upcast
from eventstore import EventStore, NewEvent
from telegram_adapter import catalogue
from telegram_adapter.render import decision, render
from tests.autosignal_support import (
    Close,
    Decisions,
    FakeNoSetup,
    RecordedFeed,
    ScriptedAnalyzer,
    signal_at,
)
from tests.conftest import klines_dir

pytestmark = pytest.mark.timeout(60)

ADMIN = 99
HOUR = 3_600_000
HISTORY = 300  # candles the feed holds before the test starts closing new ones


@pytest.fixture(scope="module")
def series() -> dict:
    folder = klines_dir() / "azmath606961__hawk-crypto-bot" / "data"
    return {s: load_csv(folder / f"{s}_1h.csv", symbol=s, interval="1h")[:400] for s in ("BTCUSDT", "ETHUSDT")}


@pytest.fixture(autouse=True)
def _stop_actors():
    yield
    pykka.ActorRegistry.stop_all()


class Harness:
    """One running AutoSignal over a store file; `restart()` opens everything again from the file."""

    def __init__(self, path: Path, series: dict, script, gate=None, analyzer=None, **config) -> None:
        """`script` drives a ScriptedAnalyzer; `analyzer`, a factory, starts a real pool instead."""
        self.path, self.series, self.script, self.gate = path, series, script, gate
        self.analyzer_factory = analyzer or (lambda: ScriptedAnalyzer.start(lambda c: self.script(c), self.gate))
        policy = Policy(config.pop("min_confidence", 75), config.pop("cooldown_min", 180) * 60_000)
        self.config = {"admin_ids": (ADMIN,), "interval": "1h", "policy": policy, **config}
        self.start()

    def start(self) -> None:
        self.store = EventStore.open(self.path, upcast=upcast)
        self.feed = RecordedFeed.start(self.series, history=HISTORY)
        self.analyzer = self.analyzer_factory()
        self.decisions = Decisions()
        self.actor = AutoSignal.start(self.store, self.feed, self.analyzer, on_decided=self.decisions, **self.config)
        self.actor.proxy().version.get()  # on_start (rehydrate, subscribe to the feed) has run

    def stop(self) -> None:
        for ref in (self.actor, self.analyzer, self.feed):
            ref.stop()
        self.store.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self, symbol: str, index: int, fresh: bool = True) -> None:
        self.feed.tell(Close(symbol, index, fresh))

    def decide(self, symbol: str, index: int) -> str:
        """What became of the candle, as the English catalogue words it (an admin's /signal_tick line)."""
        self.close(symbol, index)
        (got_symbol, open_time, outcome) = self.decisions.take()[0]
        assert (got_symbol, open_time) == (symbol, int(self.series[symbol].open_time[index]))
        return decision(outcome, "en")

    def command(self, name: str, *args: str, user: int = ADMIN, update_id: int = 1) -> str:
        reply: Future = Future()
        self.actor.tell(AutoSignalCommand(update_id, user, name, tuple(args), reply_to=reply))
        return render(reply.result(timeout=10))

    def stream(self) -> list[tuple[str, dict]]:
        """The `autosignal` stream after its founding event (the recorded AUTOSIGNAL_ENABLED)."""
        return [(r.type, r.data) for r in self.store.read_stream("autosignal")][1:]


@pytest.fixture
def harness(tmp_path, series):
    made: list[Harness] = []

    def make(script=None, **kw) -> Harness:
        h = Harness(tmp_path / "events.db", series, script or signal_at("LONG"), **kw)
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()


def grant(store: EventStore, user: int, type_: str, data: dict) -> None:
    stream = f"user-{user}"
    store.append(stream, store.stream_version(stream), [NewEvent(type_, data, {"schema": 1})])


def test_issue_is_one_append_of_signal_and_cooldown_to_the_projected_recipients(harness, series):
    h = harness()
    grant(h.store, 1, "PremiumGranted", {"until": None, "lifetime": True})
    grant(h.store, 2, "PremiumGranted", {"until": None, "lifetime": True})
    grant(h.store, 2, "AutoSignalMuted", {})
    grant(h.store, 3, "PremiumGranted", {"until": 10**13, "lifetime": False})  # timed premium: not owed
    grant(h.store, 4, "AutoSignalGranted", {"until": 10**13})
    appends_before = h.store.stats().appends

    outcome = h.decide("BTCUSDT", HISTORY)

    open_time = int(series["BTCUSDT"].open_time[HISTORY])
    assert outcome.startswith(f"issued a:BTCUSDT:1h:{open_time}:LONG")
    records = h.store.read_stream("autosignal")[1:]
    assert [r.type for r in records] == ["AutoSignalIssued", "CooldownStarted"]
    assert h.store.stats().appends == appends_before + 1  # both in one atomic append
    issued, cooldown = records[0].data, records[1].data
    assert issued["recipients"] == [1, 4, ADMIN]
    assert issued["signal"]["open_time"] == open_time
    assert cooldown == {"symbol": "BTCUSDT", "side": "LONG", "until": open_time + HOUR - 1 + 180 * 60_000}
    assert records[0].meta["schema"] == 1
    # the analysis saw exactly the candles up to the closed one, never a later one
    assert h.analyzer.proxy().seen.get()[-1][1] == open_time


def test_history_never_triggers_and_a_repeat_candle_is_not_scanned_again(harness):
    h = harness()
    h.close("BTCUSDT", HISTORY, fresh=False)
    h.decide("BTCUSDT", HISTORY + 1)
    h.close("BTCUSDT", HISTORY + 1)  # the same candle again (backfill overlap, reconnect)
    h.decide("ETHUSDT", HISTORY + 1)
    assert [s for s, _, _ in h.analyzer.proxy().seen.get()] == ["BTCUSDT", "ETHUSDT"]
    assert len(h.stream()) == 4


def test_cooldown_per_side_survives_restart(harness):
    side = {"value": "LONG"}
    h = harness(script=lambda c: signal_at(side["value"])(c))
    assert h.decide("BTCUSDT", HISTORY).startswith("issued")
    before = h.stream()

    h.restart()
    h.close("BTCUSDT", HISTORY)  # the same candle after a restart: known from the log
    h.decide("BTCUSDT", HISTORY + 1)  # closes within the 3 h cooldown
    assert h.stream() == before
    side["value"] = "SHORT"  # the opposite side is independent
    assert h.decide("BTCUSDT", HISTORY + 2).startswith("issued")
    side["value"] = "LONG"
    assert "cooldown" in h.decide("BTCUSDT", HISTORY + 3)  # close == until: the cooldown still blocks it
    assert h.decide("BTCUSDT", HISTORY + 4).startswith("issued")
    assert [d["side"] for t, d in h.stream() if t == "CooldownStarted"] == ["LONG", "SHORT", "LONG"]


def test_the_same_setup_is_never_auto_issued_again_even_after_a_restart(harness, series):
    trigger = f"LONG:OB:{int(series['BTCUSDT'].open_time[HISTORY - 30])}"
    h = harness(script=signal_at("LONG", trigger=trigger), cooldown_min=0)
    assert h.decide("BTCUSDT", HISTORY).startswith("issued")
    assert h.decide("BTCUSDT", HISTORY + 1) == "LONG was auto-issued on the previous bar"
    h.restart()
    assert h.decide("BTCUSDT", HISTORY + 2) == f"setup already issued ({trigger})"
    assert [t for t, _ in h.stream()] == ["AutoSignalIssued", "CooldownStarted"]


def test_below_threshold_and_no_setup_issue_nothing(harness):
    script = {"f": signal_at("LONG", confidence=74)}
    h = harness(script=lambda c: script["f"](c))
    assert "below 75" in h.decide("BTCUSDT", HISTORY)
    script["f"] = lambda c: FakeNoSetup("price far from every zone")
    assert "price far from every zone" in h.decide("BTCUSDT", HISTORY + 1)
    assert h.stream() == []


def test_an_interval_the_strategy_file_disables_issues_nothing_and_says_so(harness, caplog):
    off = Policy(40, 60 * 60_000, enabled=False, why="no lower bound above 0")
    with caplog.at_level("WARNING", logger="autosignal"):
        h = harness(policy=off)
    assert [r.getMessage() for r in caplog.records if "no autosignals on 1h" in r.getMessage()] != []  # told at start
    assert h.decide("BTCUSDT", HISTORY) == "no autosignals on 1h: no lower bound above 0"
    assert h.command("/signal_on") == "Autosignals were already on. None on 1h though: no lower bound above 0."
    assert h.decide("BTCUSDT", HISTORY + 1) == "no autosignals on 1h: no lower bound above 0"
    assert "Interval: 1h: no autosignals (no lower bound above 0)" in h.command("/signal_status", update_id=2)
    assert [t for t, _ in h.stream()] == []


def test_an_off_during_a_scan_wins(harness):
    gate = threading.Event()
    h = harness(gate=gate)
    entered = h.analyzer.proxy().entered.get()
    h.close("BTCUSDT", HISTORY)
    assert entered.wait(10)  # the scan is now held inside the analyzer
    assert h.command("/signal_off") == "Autosignals are off."
    gate.set()
    assert h.decisions.take()[0][2] == Decision("disabled")
    assert [t for t, _ in h.stream()] == ["AutoSignalDisabled"]

    h.restart()  # the flag is rebuilt from the log, not from AUTOSIGNAL_ENABLED
    assert h.decide("BTCUSDT", HISTORY + 1) == "autosignals are off"
    assert h.command("/signal_on", update_id=2) == "Autosignals are on."
    assert h.decide("BTCUSDT", HISTORY + 2).startswith("issued")


def test_no_autosignal_is_issued_once_shutdown_has_begun(harness):
    gate = threading.Event()
    h = harness(gate=gate)
    entered = h.analyzer.proxy().entered.get()
    h.close("BTCUSDT", HISTORY)
    assert entered.wait(10)  # a scan is in flight as the shutdown begins
    assert h.actor.ask(BeginShutdown(), timeout=10) is True
    gate.set()
    assert h.decisions.take()[0][2] == Decision("shutting_down")
    assert h.stream() == []
    h.restart()  # the next process issues again
    assert h.decide("BTCUSDT", HISTORY + 1).startswith("issued")


def test_a_banned_admin_runs_no_autosignal_command(harness):
    h = harness()
    grant(h.store, ADMIN, "UserBanned", {"by": 5})  # banned before becoming an admin (ADMIN_IDS changed)
    h.restart()
    suspended = catalogue.text("en", "suspended")
    assert h.command("/signal_off") == suspended and h.command("/signal_status", update_id=2) == suspended
    assert h.stream() == []


def test_the_setting_founds_a_fresh_log_and_later_only_admin_commands_change_it(harness):
    h = harness(enabled=False)
    assert [(r.type, r.meta["key"]) for r in h.store.read_stream("autosignal")] == [
        ("AutoSignalDisabled", "setting/AUTOSIGNAL_ENABLED")
    ]
    assert h.decide("BTCUSDT", HISTORY) == "autosignals are off"
    h.config["enabled"] = True  # a restart with the opposite setting changes nothing
    h.restart()
    assert h.decide("BTCUSDT", HISTORY + 1) == "autosignals are off"
    assert h.command("/signal_on") == "Autosignals are on."
    assert h.decide("BTCUSDT", HISTORY + 2).startswith("issued")
    assert [t for t, _ in h.stream()] == ["AutoSignalEnabled", "AutoSignalIssued", "CooldownStarted"]


def test_feed_and_analysis_failures_change_nothing_and_the_actor_goes_on(harness):
    script = {"f": lambda c: AnalysisFailed("bad candles")}
    h = harness(script=lambda c: script["f"](c))
    assert h.decide("BTCUSDT", HISTORY) == "failed: the analysis failed (bad candles)"
    script["f"] = signal_at("SHORT")
    assert h.decide("BTCUSDT", HISTORY + 1).startswith("issued")


def test_admin_commands(harness, series):
    h = harness(watchlist=("BTCUSDT", "ETHUSDT", "DOGEUSDT"))
    assert h.command("/signal_on", user=5) == "Not allowed."
    h.decide("BTCUSDT", HISTORY)
    status = h.command("/signal_status", update_id=2)
    assert "Autosignals: on" in status
    assert "BTCUSDT LONG until" in status and "Active cooldowns (1)" in status
    assert "Signals today: 1" in status and "Pending deliveries: 1" in status
    assert "Watchlist (3): BTCUSDT, ETHUSDT, DOGEUSDT" in status

    assert h.command("/cooldown_clear", "btc", "sideways", update_id=3).startswith("Usage")
    assert h.command("/cooldown_clear", update_id=4).startswith("Usage")
    assert h.command("/cooldown_clear", "eth", update_id=5) == "No active cooldown for ETHUSDT."
    assert h.command("/cooldown_clear", "btc", "long", update_id=6) == "Cooldown cleared: BTCUSDT LONG."
    assert h.command("/cooldown_clear", "btc", "long", update_id=6) == "Cooldown cleared: BTCUSDT LONG."
    assert [t for t, _ in h.stream()][-1] == "CooldownCleared"
    assert len(h.stream()) == 3  # the redelivered update changed nothing

    tick = h.command("/signal_tick", update_id=7)
    lines = tick.splitlines()[1:]
    assert lines[0].startswith("BTCUSDT: already decided")  # its last candle issued already
    assert lines[1].startswith("ETHUSDT: issued")
    assert lines[2].startswith("DOGEUSDT: failed: the feed said unknown symbol")
    assert h.command("/signal_off", update_id=8) == "Autosignals are off."
    assert h.command("/signal_off", update_id=9) == "Autosignals were already off."
    assert h.command("/nonsense", update_id=10).startswith("Autosignal commands")


def test_a_second_writer_is_refused_and_the_actor_reloads_from_the_log(harness):
    h = harness()
    h.decide("BTCUSDT", HISTORY)
    # an intruder writes the stream behind the actor's back: its next append must not overwrite
    h.store.append("autosignal", 3, [NewEvent("AutoSignalDisabled", {"by": 1}, {"schema": 1})])
    assert "not persisted" in h.decide("ETHUSDT", HISTORY)
    assert [t for t, _ in h.stream()] == ["AutoSignalIssued", "CooldownStarted", "AutoSignalDisabled"]
    assert h.decide("ETHUSDT", HISTORY + 1) == "autosignals are off"  # the reloaded state is the log's


def test_a_malformed_analysis_fails_its_candle_not_the_actor(harness):
    script = {"f": lambda c: FakeSignalWithout()}
    h = harness(script=lambda c: script["f"](c))
    assert h.decide("BTCUSDT", HISTORY).startswith("failed: TypeError")
    script["f"] = signal_at("LONG")
    assert h.decide("BTCUSDT", HISTORY + 1).startswith("issued")


class FakeSignalWithout:
    """An analysis result claiming a side but without a number for its confidence (a missing one is a
    legitimate "no calibrated confidence" rejection)."""

    def to_dict(self) -> dict:
        return {"symbol": "BTCUSDT", "interval": "1h", "side": "LONG", "confidence": "high"}


def test_a_scan_nobody_answers_times_out_and_later_candles_go_on(harness):
    gate = threading.Event()
    h = harness(gate=gate, scan_timeout_s=0.2)
    h.close("BTCUSDT", HISTORY)  # held in the analyzer past the timeout
    assert decision(h.decisions.take(timeout=5)[0][2], "en") == "failed: no answer within 0.2 s"
    gate.set()  # the late answer finds no scan waiting for it
    assert h.decide("BTCUSDT", HISTORY + 1).startswith("issued")
    assert [t for t, _ in h.stream()] == ["AutoSignalIssued", "CooldownStarted"]
