"""The operator's commands on a real log file, through the real command line."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from app import ops
from app.lock import AlreadyRunning, InstanceLock
from domain import events as ev
from eventstore import EventStore, NewEvent
from tests.conftest import foreign_sqlite

ROOT = Path(__file__).resolve().parents[2]
SIGNAL = {"symbol": "BTCUSDT", "interval": "1h", "open_time": 1_700_000_000_000, "side": "LONG", "entry": 1.0}


def append(store: EventStore, stream: str, *events: ev.Event, update_id: int | None = None) -> None:
    meta = {"update_id": update_id} if update_id is not None else {}
    store.append(stream, store.stream_version(stream),
                 [NewEvent(e.type, e.payload(), {**meta, "schema": e.schema}) for e in events])


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "events.db"
    with EventStore.open(path) as store:
        append(store, "user-42", ev.UserRegistered(42, "ann", "en"), ev.CreditsGranted(100, "welcome"), update_id=1)
        append(store, "user-42", ev.ManualSignalIssued("m:42:2", 2, 20, SIGNAL), update_id=2)
        append(store, "user-7", ev.UserRegistered(7, "bob", "en"), ev.CreditsGranted(100, "welcome"), update_id=3)
        append(store, "user-7", ev.CreditsGranted(50, "admin", by=1))
        append(store, "autosignal", ev.AutoSignalIssued("a:BTCUSDT:15m:1:LONG", SIGNAL, [42, 7]),
               ev.CooldownStarted("BTCUSDT", "LONG", 1_700_000_900_000))
        append(store, "outbox", ev.DeliveryAttempted("m:42:2", 42), ev.SignalDelivered("m:42:2", 42, 981))
        append(store, "outbox", ev.DeliveryAttempted("a:BTCUSDT:15m:1:LONG", 42),
               ev.SignalDelivered("a:BTCUSDT:15m:1:LONG", 42, 982))
        append(store, "outbox", ev.DeliveryAttempted("a:BTCUSDT:15m:1:LONG", 7))
    return path


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_audit_json_is_the_whole_ledger(log):
    result = cli("audit", "--db", str(log), "--json")
    assert result.returncode == 0, result.stderr
    document = orjson.loads(result.stdout)
    books = {b["user_id"]: b for b in document["users"]}
    assert books[42]["balance"] == 80 and books[7]["balance"] == 150
    assert [(e["amount"], e["balance"]) for e in books[42]["entries"]] == [(100, 100), (-20, 80)]
    assert books[42]["entries"][1]["signal_id"] == "m:42:2"
    assert books[7]["entries"][1]["reason"] == "admin by 1"


def test_audit_one_user_since_a_date(log):
    result = cli("audit", "--db", str(log), "--user", "7", "--since", "2100-01-01")
    assert result.returncode == 0
    assert "user 7: balance 150 credits" in result.stdout and "#" not in result.stdout
    assert cli("audit", "--db", str(log), "--since", "yesterday").returncode == 2


def test_replay_summary(log):
    with ops.open_log(log) as store:
        figures = ops.replay(store, progress=None).figures(0)
    assert figures["users"] == 2 and figures["credits_in_circulation"] == 230
    assert (figures["manual_signals"], figures["autosignals"], figures["delivered"]) == (1, 1, 2)
    assert figures["pending_deliveries"] == 1 and figures["cooldowns"] == {"BTCUSDT:LONG": 1_700_000_900_000}
    result = cli("replay", "--db", str(log))
    assert result.returncode == 0 and "pending_deliveries: 1" in result.stdout
    assert "cooldowns: BTCUSDT:LONG until 2023-11-14 22:28 UTC" in result.stdout, result.stdout


def test_verify_passes_then_reports_the_first_violation(log, tmp_path):
    result = cli("verify", "--db", str(log))
    assert result.returncode == 0, result.stdout
    assert "pending: 1" in result.stdout and "invariants: ok" in result.stdout
    with EventStore.open(log) as store:
        append(store, "outbox", ev.SignalDelivered("m:42:2", 42, 983))
    result = cli("verify", "--db", str(log))
    assert result.returncode == 1 and "second outcome" in result.stdout


def test_verify_reports_a_broken_chain(log):
    conn = sqlite3.connect(log, isolation_level=None)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("UPDATE events SET data = CAST('{\"amount\":1000,\"reason\":\"welcome\"}' AS BLOB) WHERE position = 2")
    conn.close()
    result = cli("verify", "--db", str(log))
    assert result.returncode == 1 and "position 2" in result.stdout


def test_negative_balance_is_a_violation(tmp_path):
    path = tmp_path / "neg.db"
    with EventStore.open(path) as store:
        append(store, "user-1", ev.UserRegistered(1), ev.CreditsGranted(10, "welcome"))
        append(store, "user-1", ev.ManualSignalIssued("m:1:5", 5, 20, SIGNAL))
        ok, lines = ops.verify(store)
    assert not ok and "negative" in lines[-1]


def test_backup_while_writing_restores_to_the_same_state(log, tmp_path):
    target = tmp_path / "copy.db"
    with EventStore.open(log) as live:
        append(live, "user-7", ev.CreditsGranted(5, "admin", by=1))
        result = cli("backup", "--db", str(log), "--to", str(target))
        assert result.returncode == 0, result.stderr
        with ops.open_log(target) as restored:
            assert ops.replay(restored, None).figures(0) == ops.replay(live, None).figures(0)
    assert cli("backup", "--db", str(log), "--to", str(target)).returncode == 2


def test_backup_refuses_what_is_no_log_and_leaves_no_target(tmp_path):
    empty, foreign, text = tmp_path / "empty.db", tmp_path / "foreign.db", tmp_path / "text.db"
    empty.touch()
    foreign_sqlite(foreign)
    text.write_text("not a database at all, just some words " * 40)
    for source, says in ((empty, "empty (0 bytes)"), (foreign, "no event log"), (text, "not a database"),
                         (tmp_path / "nothere.db", "no event log at")):
        target = tmp_path / f"copy-of-{source.name}"
        result = cli("backup", "--db", str(source), "--to", str(target))
        assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert not target.exists()


def test_missing_log_is_a_clear_error(tmp_path):
    result = cli("replay", "--db", str(tmp_path / "nope.db"))
    assert result.returncode == 2 and "no event log" in result.stderr


def test_one_instance_per_log(tmp_path):
    db = tmp_path / "events.db"
    with InstanceLock(db):
        child = subprocess.run(
            [sys.executable, "-c", f"from app.lock import InstanceLock; InstanceLock({str(db)!r}).acquire()"],
            cwd=ROOT, capture_output=True, text=True, timeout=30,
        )
        assert child.returncode != 0 and "already running" in child.stderr
        with pytest.raises(AlreadyRunning):
            InstanceLock(db).acquire()
    InstanceLock(db).acquire().release()


@pytest.mark.parametrize("other_name", ["hard link", "symlink", "another relative path"])
def test_the_lock_belongs_to_the_file_whatever_path_reaches_it(tmp_path, monkeypatch, other_name):
    from app.config import load_settings
    from app.system import System

    db = tmp_path / "ev.db"
    EventStore.open(db).close()
    (tmp_path / "sub").mkdir()
    other = tmp_path / "other.db"
    if other_name == "hard link":
        other.hardlink_to(db)
    elif other_name == "symlink":
        other.symlink_to(db)
    else:
        monkeypatch.chdir(tmp_path / "sub")
        other = Path("..") / "sub" / ".." / "ev.db"
    with InstanceLock(db), pytest.raises(AlreadyRunning, match="already running"):
        System(load_settings({"DB_PATH": str(other)}, None)).start(telegram=False)


def test_read_only_commands_refuse_a_file_that_is_not_a_log_and_leave_it_untouched(tmp_path):
    foreign = tmp_path / "notes.db"
    before = foreign_sqlite(foreign)
    for command in ("verify", "replay", "audit"):
        result = cli(command, "--db", str(foreign))
        assert result.returncode == 2 and "no event log" in result.stderr and "Traceback" not in result.stderr
    assert foreign.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]


def test_an_empty_file_where_a_log_was_is_refused_unless_a_new_log_is_asked_for(tmp_path):
    from app.log_file import StartError, open_for_run

    db = tmp_path / "events.db"
    db.touch()
    with pytest.raises(StartError, match=r"empty \(0 bytes\).*--new-log"):
        open_for_run(str(db), "FULL", new_log=False)
    assert db.stat().st_size == 0
    lock, store = open_for_run(str(db), "FULL", new_log=True)
    store.close()
    lock.release()
    lock, store = open_for_run(str(db), "FULL", new_log=False)  # now it is a log
    store.close()
    lock.release()


def test_a_db_path_that_cannot_hold_the_log_is_one_line_naming_it(tmp_path):
    from app.log_file import StartError, open_for_run

    (tmp_path / "a-file").write_text("x")
    for bad in (tmp_path, tmp_path / "a-file" / "events.db"):
        with pytest.raises(StartError, match="DB_PATH") as info:
            open_for_run(str(bad), "FULL", new_log=False)
        assert "\n" not in str(info.value)
    env = {"PATH": "/usr/bin:/bin", "DB_PATH": str(tmp_path)}
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "run"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 1 and "DB_PATH" in result.stderr and "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert "DB_PATH" in error and "is a directory" in error


def in_a_read_only_folder(attempt: Callable[[str], bool], prepare: Callable[[str], None] = lambda _: None) -> None:
    """`attempt(folder)` must return True in a child that cannot write `folder` (`prepare` runs while it can).

    Root writes into any folder, so the child drops to an unprivileged user."""
    parent = tempfile.mkdtemp(prefix="signalbot-ro-")
    folder = os.path.join(parent, "ro")
    try:
        os.mkdir(folder)
        prepare(folder)
        os.chmod(parent, 0o755)
        os.chmod(folder, 0o555)
        child = os.fork()
        if child == 0:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            try:
                os._exit(0 if attempt(folder) else 3)
            except BaseException:
                os._exit(4)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.chmod(folder, 0o755)
        shutil.rmtree(parent)


def test_a_read_only_folder_is_named():
    from app.log_file import StartError, open_for_run

    def attempt(folder: str) -> bool:
        try:
            open_for_run(os.path.join(folder, "events.db"), "FULL", new_log=False)
        except StartError as exc:
            return "read-only" in str(exc) and "DB_PATH" in str(exc)
        return False

    in_a_read_only_folder(attempt)


def test_reading_a_log_in_a_read_only_folder_says_why_it_cannot():
    import main  # imported here: the unprivileged child may not reach the interpreter to start a new one

    def prepare(folder: str) -> None:
        path = os.path.join(folder, "events.db")
        with EventStore.open(path) as store:
            append(store, "user-1", ev.UserRegistered(1))
        os.chmod(path, 0o644)

    def attempt(folder: str) -> bool:
        for command in ("verify", "replay", "audit"):
            said = io.StringIO()
            with contextlib.redirect_stderr(said), contextlib.redirect_stdout(io.StringIO()):
                code = main.main([command, "--db", os.path.join(folder, "events.db")])
            if code != 2 or "is read-only (the log writes its -wal and -shm" not in said.getvalue():
                return False
        return True

    in_a_read_only_folder(attempt, prepare)


def test_an_invalid_setting_stops_run_and_names_it(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "AUTOSIGNAL_MIN_CONFIDENCE": "lots", "DB_PATH": str(tmp_path / "e.db")}
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "run"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "AUTOSIGNAL_MIN_CONFIDENCE" in result.stderr
    assert not (tmp_path / "e.db").exists()


def test_a_token_telegram_refuses_stops_run_at_once(tmp_path):
    from tests.fakes.bot_api import FakeBotAPI

    with FakeBotAPI(token="123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcd") as telegram:
        wrong = "654321:ZYXWVUTSRQPONMLKJIHGFEDCBAzyxw"
        env = {"PATH": "/usr/bin:/bin", "TELEGRAM_BOT_TOKEN": wrong, "TELEGRAM_API_URL": telegram.base_url,
               "DB_PATH": str(tmp_path / "e.db"), "WATCHLIST": "BTCUSDT",
               "BINANCE_WS_URL": "ws://127.0.0.1:9", "BINANCE_REST_URL": "http://127.0.0.1:9"}
        result = subprocess.run([sys.executable, str(ROOT / "main.py"), "run"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=90)
    assert result.returncode == 1 and "Telegram adapter did not start" in result.stderr
    assert "Unauthorized" in result.stderr and wrong not in result.stderr
    assert "TELEGRAM_BOT_TOKEN" in result.stderr and "Traceback" not in result.stderr


def test_audit_outcomes_lists_every_setup_with_levels_fill_status_and_r(tmp_path):
    def setup(symbol: str, open_time: int, side: str = "LONG") -> dict:
        return {"symbol": symbol, "interval": "1h", "open_time": open_time, "side": side, "entry": 100.0,
                "stop": 98.0, "tp1": 103.0, "tp2": 106.0, "confidence": 80}

    t = 1_767_225_600_000  # 2026-01-01 00:00 UTC
    scan = {"kind": "scan", "signals": [setup("ETHUSDT", t), setup("SOLUSDT", t, "SHORT")]}
    path = tmp_path / "live.db"
    with EventStore.open(path) as store:
        append(store, "user-42", ev.UserRegistered(42, "ann", "en"), ev.CreditsGranted(100, "welcome"), update_id=1)
        append(store, "user-42", ev.ManualSignalIssued("m:42:2", 2, 20, setup("BTCUSDT", t)), update_id=2)
        append(store, "user-42", ev.ManualSignalIssued("m:42:3", 3, 60, scan), update_id=3)
        append(store, "autosignal", ev.AutoSignalIssued("a:BTCUSDT:1h:0:LONG", setup("BTCUSDT", t - 86_400_000), []))
        append(store, "outcomes", ev.SignalEntered("m:42:2", 100.5, t + 3_600_000),
               ev.TargetHit("m:42:2", "tp1", 103.0, t + 7_200_000),
               ev.SignalEntered("a:BTCUSDT:1h:0:LONG", 100.0, t - 82_800_000),
               ev.StopHit("a:BTCUSDT:1h:0:LONG", 98.0, t - 79_200_000),
               ev.SignalClosed("a:BTCUSDT:1h:0:LONG", -1.04, -2.0, "stop", 2),
               ev.SignalEntered("m:42:3/SOLUSDT", 100.0, t + 3_600_000))
    result = cli("audit", "--db", str(path), "--outcomes", "--json")
    assert result.returncode == 0, result.stderr
    document = orjson.loads(result.stdout)
    rows = {row["signal_id"]: row for row in document["signals"]}
    assert set(rows) == {"m:42:2", "m:42:3/ETHUSDT", "m:42:3/SOLUSDT", "a:BTCUSDT:1h:0:LONG"}
    assert (rows["m:42:2"]["status"], rows["m:42:2"]["fill"], rows["m:42:2"]["result_r"]) == ("tp1", 100.5, None)
    stopped = rows["a:BTCUSDT:1h:0:LONG"]
    assert (stopped["kind"], stopped["status"], stopped["result_r"], stopped["bars"]) == ("auto", "stopped", -1.04, 2)
    assert (stopped["entry"], stopped["stop"], stopped["tp1"], stopped["tp2"]) == (100.0, 98.0, 103.0, 106.0)
    assert rows["m:42:3/ETHUSDT"]["status"] == "open" and rows["m:42:3/ETHUSDT"]["fill"] is None
    assert rows["m:42:3/SOLUSDT"]["side"] == "SHORT" and rows["m:42:3/SOLUSDT"]["kind"] == "manual"
    assert document["open"] == 3 and document["summary"]["closed"] == 1
    recent = orjson.loads(cli("audit", "--db", str(path), "--outcomes", "--since", "2026-01-01", "--json").stdout)
    assert {row["signal_id"] for row in recent["signals"]} == set(rows) - {"a:BTCUSDT:1h:0:LONG"}
    text = cli("audit", "--db", str(path), "--outcomes")
    assert "a:BTCUSDT:1h:0:LONG  auto BTCUSDT 1h" in text.stdout and "stopped -1.04R (stop)" in text.stdout
    assert "None" not in text.stdout and "fill –  open  – bars" in text.stdout, text.stdout
    (tmp_path / "empty.db").unlink(missing_ok=True)
    with EventStore.open(tmp_path / "empty.db"):
        pass
    nothing = cli("audit", "--db", str(tmp_path / "empty.db"), "--outcomes").stdout
    assert nothing.strip() == ("0 signals, 0 closed, 0 open; TP1 before stop n/a, average n/a R after fees, "
                               "profit factor n/a"), nothing


def test_audit_takes_one_report_at_a_time(log):
    result = cli("audit", "--db", str(log), "--outcomes", "--payments")
    assert result.returncode == 2 and "not allowed with argument" in result.stderr


def test_audit_payments_lists_each_payment_with_its_grant_and_refund(log):
    with EventStore.open(log) as store:
        append(store, "user-42", ev.StarsPaymentReceived("ch-1", 50, "XTR", "100cr", "o1", at=1_800_000_000_000),
               ev.CreditsGranted(100, "purchase", charge_id="ch-1"))
        append(store, "user-7", ev.StarsPaymentReceived("ch-2", 500, "XTR", "premium30d", "o2", at=1_800_000_000_000),
               ev.PremiumGranted(1_802_592_000_000, charge_id="ch-2"))
        append(store, "user-42", ev.RefundRequested("ch-1", 50, "admin", 1))
        append(store, "user-42", ev.StarsRefunded("ch-1", 50), ev.CreditsRevoked(100, "stars_refund", "ch-1"))
    result = cli("audit", "--db", str(log), "--payments", "--json")
    assert result.returncode == 0, result.stderr
    document = orjson.loads(result.stdout)
    assert [(p["user_id"], p["charge_id"], p["stars"], p["pack"], p["granted"], (p["refunded"] or {}).get("status"))
            for p in document["payments"]] == [(42, "ch-1", 50, "100cr", {"credits": 100}, "refunded"),
                                               (7, "ch-2", 500, "premium30d", {"premium_days": 30}, None)]
    assert all(p["at"] == 1_800_000_000_000 for p in document["payments"])
    assert document["totals"] == {"payments": 2, "stars_received": 550, "stars_refunded": 50, "credits_sold": 100,
                                  "premium_days_sold": 30, "refunds": 1}
    assert document["users"]["7"]["stars_received"] == 500
    text = cli("audit", "--db", str(log), "--payments").stdout
    assert "user 42  50 Stars  100cr  granted 100 credits  refund refunded (admin)  ch-1" in text
    assert "total: 2 payments, 550 Stars received, 50 refunded (1)" in text
    assert cli("audit", "--db", str(log), "--payments", "--since", "2100-01-01", "--json").stdout.count("ch-") == 0
    verified = cli("verify", "--db", str(log))
    assert verified.returncode == 0 and "Stars payments: 2, refunded: 1" in verified.stdout, verified.stdout


SETUP = {**SIGNAL, "stop": 0.9, "tp1": 1.1, "tp2": None}


@pytest.mark.parametrize("extra, violation", [
    (None, None),
    (ev.SignalClosed("a:BTCUSDT:1h:1:LONG", 0.9, 10.0, "tp2", 2), "after its SignalClosed"),
    (ev.StopHit("a:ETHUSDT:1h:1:LONG", 0.9, 1), "never issued"),
])
def test_verify_outcomes_one_close_per_issued_signal(tmp_path, extra, violation):
    path = tmp_path / "outcomes.db"
    sid = "a:BTCUSDT:1h:1:LONG"
    with EventStore.open(path) as store:
        append(store, "autosignal", ev.AutoSignalIssued(sid, SETUP, [42]))
        append(store, "outbox", ev.DeliveryAttempted(sid, 42), ev.SignalDelivered(sid, 42, 1))
        append(store, "outcomes", ev.SignalEntered(sid, 1.0, 1), ev.TargetHit(sid, "tp1", 1.1, 2),
               ev.SignalClosed(sid, 0.9, 10.0, "tp2", 2))
        append(store, "outbox", ev.DeliveryAttempted(f"f:{sid}:tp2", 42), ev.SignalDelivered(f"f:{sid}:tp2", 42, 2))
        if extra is not None:
            append(store, "outcomes", extra)
        ok, lines = ops.verify(store)
        figures = ops.replay(store, progress=None).figures(0)
    assert ok is (violation is None), lines
    text = "\n".join(lines)  # like with like: the follow-up is not counted as a delivered signal
    assert "signals owed: 1, delivered: 1, failed: 0, pending: 0" in text, text
    assert "follow-ups owed: 1, delivered: 1, failed: 0, pending: 0; signals closed: 1" in text, text
    if violation:
        assert violation in lines[-1]
    assert (figures["signals_open"], figures["signals_closed"], figures["average_r_closed"]) == (0, 1, 0.9)


def test_verify_refuses_a_followup_nobody_was_owed(tmp_path):
    with EventStore.open(tmp_path / "f.db") as store:
        append(store, "outbox", ev.SignalDelivered("f:a:BTCUSDT:1h:1:LONG:tp1", 42, 1))
        ok, lines = ops.verify(store)
    assert not ok and "never issued" in lines[-1]
