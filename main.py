"""signalbot's command line: run the bot, the offline demo, and the operator's log commands."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from app.config import Settings


def _since(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"needs a date such as 2026-11-01 or 2026-11-01T12:00, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _until(text: str) -> int:
    """An inclusive end: a bare date means the end of that day (UTC)."""
    end = _since(text)
    return end + 86_400_000 - 1 if len(text.strip()) <= 10 else end


def _share(low: int, high: int) -> type:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"needs a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    from app.config import settings_help

    parser = argparse.ArgumentParser(
        prog="main.py",
        description="An event-sourced Telegram bot for Binance trade signals.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run", help="serve Telegram (or the console without a token) from the live Binance feed",
        epilog=settings_help(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--new-log", action="store_true",
                     help="start a new log in an empty or schema-less file at DB_PATH (otherwise refused)")
    run.add_argument("--delete-webhook", action="store_true",
                     help="webhook mode: delete the webhook at shutdown (by default it stays registered)")
    demo = commands.add_parser("demo", help="the whole system offline: simulator, fresh log, scripted tour")
    demo.add_argument("--data", nargs="+", metavar="CSV", help="real kline files for the simulator")
    demo.add_argument("--interactive", action="store_true", help="hand the console to you after the tour")
    replay = commands.add_parser("replay", help="rebuild every projection from the log and print a summary")
    replay.add_argument("--db", required=True)
    audit = commands.add_parser("audit", help="the credit ledger of one user or all, from the log")
    audit.add_argument("--db", required=True)
    audit.add_argument("--user", type=int)
    audit.add_argument("--since", type=_since, metavar="DATE")
    audit.add_argument("--json", action="store_true", help="stdout holds only the JSON document")
    report = audit.add_mutually_exclusive_group()  # one report per run: the ledger, outcomes or payments
    report.add_argument("--outcomes", action="store_true",
                        help="every signal with its outcome (status, result in R, bars) instead of the credit ledger")
    report.add_argument("--payments", action="store_true",
                        help="Stars received and refunded, credits and premium sold, per user and in total")
    verify = commands.add_parser("verify", help="hash chain, append-only, versions and invariants")
    verify.add_argument("--db", required=True)
    backup = commands.add_parser("backup", help="a consistent, verified copy while the bot runs")
    backup.add_argument("--db", required=True)
    backup.add_argument("--to", required=True, metavar="FILE")
    backtest = commands.add_parser(
        "backtest", help="replay kline files through the live analysis, autosignal and outcome rules into a log",
        description="Each file's last row is dropped (it may be a candle still forming). Files of one symbol and "
                    "interval are joined into one series. The autosignal policy of each series' interval is the "
                    "strategy file's (AUTOSIGNAL_MIN_CONFIDENCE / --min-confidence and AUTOSIGNAL_COOLDOWN_MIN / "
                    "--cooldown-min replace it when set); outcome rules: OUTCOME_HORIZON_BARS and FEE_RATE.")
    backtest.add_argument("--data", nargs="+", required=True, metavar="FILE", help="kline CSV files")
    backtest.add_argument("--symbol", help="symbol of every file (default: the file name's, else a symbol column)")
    backtest.add_argument("--interval", help="aggregate the candles to this interval (a whole multiple of "
                          "theirs); the strategy file's autosignal policy for it applies")
    backtest.add_argument("--from", dest="start", type=_since, metavar="DATE", help="first bar that may signal")
    backtest.add_argument("--to", dest="end", type=_until, metavar="DATE",
                          help="last bar replayed (a bare date: the end of that day, UTC)")
    backtest.add_argument("--min-confidence", type=_share(0, 100), metavar="N", help="autosignal threshold")
    backtest.add_argument("--cooldown-min", type=_share(0, 10_080), metavar="N", help="autosignal cooldown")
    backtest.add_argument("--db", help="the event log to write (a new file; default: a temporary one)")
    backtest.add_argument("--json", action="store_true", help="stdout holds only the JSON document")
    backtest.add_argument("--strategy", metavar="PATH", help="strategy parameter file (default: STRATEGY_PATH)")
    calibrate = commands.add_parser(
        "calibrate", help="fit the confidence model on kline files' setups and write a strategy parameter file")
    calibrate.add_argument("--data", nargs="+", required=True, metavar="FILE", help="kline CSV files")
    calibrate.add_argument("--out", required=True, metavar="PATH", help="the parameter file to write")
    calibrate.add_argument("--symbol", help="symbol of every file (default: the file name's, else a symbol column)")
    calibrate.add_argument("--interval", nargs="+", default=[], metavar="INTERVAL",
                           help="fit on the files aggregated to each of these (the files whose candles divide it)")
    return parser


def cmd_backtest(args: argparse.Namespace) -> int:
    from app import backtest
    from app.backtest_report import render
    from app.config import ConfigError

    try:
        setup = backtest.default_setup(args.min_confidence, args.cooldown_min, args.strategy, start=args.start,
                                       end=args.end)
        result = backtest.run_backtest(args.data, symbol=args.symbol, interval=args.interval, setup=setup,
                                       db=args.db, progress=backtest.progress_stream())
    except (backtest.BacktestError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for why in result.skipped:
        print(f"skipped {why}", file=sys.stderr)
    if args.json:
        sys.stdout.write(orjson.dumps(result.document, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(render(result.document))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from app import backtest, calibrate
    from app.config import ConfigError

    try:
        loaded = calibrate.calibrate(args.data, args.out, symbol=args.symbol, intervals=args.interval)
    except (backtest.BacktestError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: version {loaded.version}, {len(loaded.models)} walk-forward models")
    for interval, policy in loaded.policies.items():
        print(f"  {interval}: {'on' if policy['enabled'] else 'off'} - {policy['why']}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from analysis.candles import format_time
    from app import ops

    with ops.open_log(args.db) as store:
        summary = ops.replay(store)
    for key, value in summary.figures(int(time.time() * 1000)).items():
        if key == "cooldowns":
            value = ", ".join(f"{pair} until {format_time(until)}" for pair, until in value.items()) or "none"
        print(f"{key}: {_shown(value)}")
    return 0


def _shown(value: object, missing: str = "n/a") -> object:
    """A value for the operator's eye: `missing` in place of Python's None."""
    return missing if value is None else value


def cmd_audit(args: argparse.Namespace) -> int:
    from app import ops

    if args.outcomes:
        return _audit_outcomes(args)
    if args.payments:
        return _audit_payments(args)
    with ops.open_log(args.db) as store:
        document = ops.audit(store, args.user, args.since)
    if args.json:
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    if not document["users"]:
        print("no credit movements" + (f" for user {args.user}" if args.user is not None else ""))
    for book in document["users"]:
        print(f"user {book['user_id']}: balance {book['balance']} credits")
        for e in book["entries"]:
            when = datetime.fromtimestamp(e["at"] / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
            subject = e["signal_id"] or e["charge_id"]
            signal = f" {subject}" if subject else ""
            print(f"  #{e['position']:<8} {when}  {e['amount']:+6d}  = {e['balance']:<6d} {e['reason']}{signal}")
    return 0


def _report(args: argparse.Namespace, build: str) -> dict | None:
    """The document `ops.<build>(store, since)` makes from the log; with --json it is printed and None returned."""
    from app import ops

    with ops.open_log(args.db) as store:
        document = getattr(ops, build)(store, args.since)
    if args.json:
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
        return None
    return document


def _audit_outcomes(args: argparse.Namespace) -> int:
    document = _report(args, "audit_outcomes")
    if document is None:
        return 0
    for row in document["signals"]:
        when = datetime.fromtimestamp(row["open_time"] / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        result = "" if row["result_r"] is None else f" {row['result_r']:+.2f}R ({row['reason']})"
        v = {k: _shown(row[k], "–") for k in ("confidence", "entry", "stop", "tp1", "tp2", "fill", "bars")}
        print(f"{row['signal_id']}  {row['kind']} {row['symbol']} {row['interval']} {when} {row['side']} "
              f"conf {v['confidence']}  entry {v['entry']} stop {v['stop']} tp1 {v['tp1']} tp2 {v['tp2']}"
              f"  fill {v['fill']}  {row['status']}{result}  {v['bars']} bars")
    s = document["summary"]
    tp1 = "n/a" if s["tp1_first_pct"] is None else f"{s['tp1_first_pct']}%"
    print(f"{len(document['signals'])} signals, {s['closed']} closed, {document['open']} open; TP1 before stop "
          f"{tp1}, average {_shown(s['avg_r'])} R after fees, profit factor {_shown(s['profit_factor'])}")
    return 0


def _audit_payments(args: argparse.Namespace) -> int:
    document = _report(args, "audit_payments")
    if document is None:
        return 0
    for row in document["payments"]:
        when = datetime.fromtimestamp(row["at"] / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        granted = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in row["granted"].items()) or "nothing"
        refund = row["refunded"]
        status = f"  refund {refund['status']} ({refund.get('reason')})" if refund else ""
        print(f"{when}  user {row['user_id']}  {row['stars']} Stars  {row['pack']}  granted {granted}"
              f"{status}  {row['charge_id']}")
    for who, totals in [("total", document["totals"])] + [(f"user {u}", t) for u, t in document["users"].items()]:
        print(f"{who}: {totals['payments']} payments, {totals['stars_received']} Stars received, "
              f"{totals['stars_refunded']} refunded ({totals['refunds']}), {totals['credits_sold']} credits and "
              f"{totals['premium_days_sold']} premium days sold")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from app import ops

    with ops.open_log(args.db) as store:
        ok, lines = ops.verify(store)
    print("\n".join(lines))
    return 0 if ok else 1


def cmd_backup(args: argparse.Namespace) -> int:
    from app import ops

    events = ops.backup(args.db, args.to)
    print(f"backup of {events} events written to {args.to} and verified")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from app.system import run

    settings = _live_settings()
    if settings is None:
        return 2
    return run(settings, new_log=args.new_log, delete_webhook=args.delete_webhook)


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo import run_demo

    settings = _live_settings()
    if settings is None:
        return 2
    return run_demo(args, settings)


def _live_settings() -> Settings | None:
    """The settings a running system starts from, with logging set up; None (said on stderr) if one is invalid."""
    from app.config import ConfigError, load_settings
    from app.logs import setup_logging

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"error: invalid setting: {exc}", file=sys.stderr)
        return None
    setup_logging(settings.log_level, (settings.token, settings.webhook_secret))
    return settings


def main(argv: list[str] | None = None) -> int:
    import sqlite3

    from eventstore import EventStoreError

    args = build_parser().parse_args(argv)
    handlers = {"replay": cmd_replay, "audit": cmd_audit, "verify": cmd_verify, "backup": cmd_backup,
                "backtest": cmd_backtest, "calibrate": cmd_calibrate}
    live = {"run": cmd_run, "demo": cmd_demo}  # outside the try below, which makes a bad file argument exit 2
    if args.command in live:
        return live[args.command](args)
    try:
        return handlers[args.command](args)
    except (FileNotFoundError, FileExistsError, RuntimeError, EventStoreError, sqlite3.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
