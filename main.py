"""signalbot's command line: run the bot, the offline demo, and the operator's log commands."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

import orjson


def _since(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"needs a date such as 2026-11-01 or 2026-11-01T12:00, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def build_parser() -> argparse.ArgumentParser:
    from app.config import settings_help

    parser = argparse.ArgumentParser(
        prog="main.py",
        description="An event-sourced Telegram bot for Binance trade signals.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "run", help="serve Telegram (or the console without a token) from the live Binance feed",
        epilog=settings_help(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    verify = commands.add_parser("verify", help="hash chain, append-only, versions and invariants")
    verify.add_argument("--db", required=True)
    backup = commands.add_parser("backup", help="a consistent, verified copy while the bot runs")
    backup.add_argument("--db", required=True)
    backup.add_argument("--to", required=True, metavar="FILE")
    return parser


def cmd_replay(args: argparse.Namespace) -> int:
    from app import ops

    with ops.open_log(args.db) as store:
        summary = ops.replay(store)
    for key, value in summary.figures(int(time.time() * 1000)).items():
        print(f"{key}: {value}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from app import ops

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
            signal = f" {e['signal_id']}" if e["signal_id"] else ""
            print(f"  #{e['position']:<8} {when}  {e['amount']:+6d}  = {e['balance']:<6d} {e['reason']}{signal}")
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"replay": cmd_replay, "audit": cmd_audit, "verify": cmd_verify, "backup": cmd_backup}
    if args.command in ("run", "demo"):
        from app import system

        return system.main(args)
    try:
        return handlers[args.command](args)
    except (FileNotFoundError, FileExistsError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
