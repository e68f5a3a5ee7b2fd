"""Message texts in Telegram HTML: every user- or market-derived string is escaped here.

Prices are shown at the symbol's precision; long texts are split on line boundaries.
"""

from __future__ import annotations

import html
import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from analysis.candles import INTERVAL_MS
from domain.ledger import entries as ledger_entries
from domain.user import UserState

TEXT_LIMIT = 4096
FOOTER = "<i>Not financial advice: trade at your own risk.</i>"

ADMIN_HELP = (
    "\n\n<b>Admin</b>\n"
    "/grant_credits ID N · /set_premium ID 30d|90d|lifetime · /revoke_premium ID\n"
    "/grant_autosignal ID 30d · /ban ID · /unban ID · /audit ID · /refund USER_ID CHARGE_ID\n"
    "/signal_on · /signal_off · /signal_status · /signal_tick · /cooldown_clear SYMBOL SIDE\n"
    "/winrate SYMBOL [7d|30d|90d|all] – one pair's track record (a plain /winrate adds a table per pair)"
)
HELP = (
    "<b>Commands</b>\n"
    "/start – register (100 free credits)\n"
    "/analyze SYMBOL – 1h setup for a pair, e.g. /analyze BTC (20 credits)\n"
    "/futures SYMBOL [TF] – setup on 1m 5m 15m 30m 1h 4h 1d (20 credits)\n"
    "/signals – scan the 10 most traded USDT pairs (60 credits)\n"
    "/credits – balance, tier and autosignal status\n"
    "/history – your last 10 signals, charges and outcomes\n"
    "/winrate [7d|30d|90d|all] – how the signals did: hit rates, average R after fees\n"
    "/autosignal on|off – mute or unmute pushed signals\n"
    "/followups on|off – messages when your signals hit a target, the stop or expire\n"
    "/chart SYMBOL [TF] – a chart of the current analysis, no trade levels (free)\n"
    "/charts on|off – signals as a chart with the text, or as text only\n"
    "/buy – credits or premium with Telegram Stars · /paysupport – help with a payment · /terms\n"
    "You are charged only when a signal is delivered."
)

START_PRIVATELY = (
    "To use me, open a private chat with me and send /start there (100 free credits); "
    "then ask here again."
)
PRIVATE_ONLY = (
    "I answer /{name} in a private chat, so your balance stays yours: "
    "open a private chat with me and send /start there first."
)


SUSPENDED = "Your account is suspended. Contact an admin."
ADMIN_NOT_BANNED = "An admin cannot be banned, yourself included (remove the id from ADMIN_IDS first)."


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000))


def day(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))


def decimals(signal: dict[str, Any]) -> int:
    """Digits after the point for this symbol: the signal's precision, else from its price size."""
    precision = signal.get("precision")
    if isinstance(precision, int) and not isinstance(precision, bool) and 0 <= precision <= 12:
        return precision
    if isinstance(precision, float) and 0 < precision < 1:
        return min(12, max(0, round(-math.log10(precision))))
    entry = abs(float(signal.get("entry") or 0)) or 1.0
    return min(8, max(2, 4 - math.floor(math.log10(entry))))


def price(value: Any, digits: int) -> str:
    try:
        return f"{float(value):,.{digits}f}"
    except (TypeError, ValueError):
        return esc(value)


def signal_text(signal: dict[str, Any]) -> str:
    """A manual or auto signal, a /signals scan (signal["kind"] == "scan") or a follow-up ("followup")."""
    if signal.get("kind") == "scan":
        return scan_text(signal)
    if signal.get("kind") == "followup":
        return followup_text(signal)
    digits = decimals(signal)
    side = str(signal.get("side", "")).upper()
    icon = "🟢" if side == "LONG" else "🔴"
    lines = [
        f"{icon} <b>{esc(signal.get('symbol'))}</b> {esc(signal.get('interval'))} · <b>{esc(side)}</b>",
        f"Entry (market): <code>{price(signal.get('entry'), digits)}</code>",
        f"Stop: <code>{price(signal.get('stop'), digits)}</code>",
        *targets(signal, digits),
    ]
    if signal.get("confidence") is not None:
        lines.append(f"Confidence: {esc(signal['confidence'])}% (chance of TP1 before the stop, calibrated on history)")
    for line in (record_line(signal.get("record")), live_line(signal.get("live_record"))):
        if line:
            lines.append(line)
    reasons = signal.get("reasons") or []
    if reasons:
        lines.append("<b>Why</b>")
        lines.extend(f"• {esc(reason)}" for reason in reasons)
    smc = smc_summary(signal.get("smc"), digits)
    if smc:
        lines.append(f"<b>SMC</b> {smc}")
    lines.append(f"Candle: {when(signal.get('open_time'))}")
    since = active_since(signal)
    if since:
        lines.append(since)
    lines.append(FOOTER)
    return "\n".join(lines)


def targets(signal: dict[str, Any], digits: int) -> list[str]:
    """The TP1 line, and a TP2 line only when the signal has a second target (`tp2` not null)."""
    lines = [f"TP1: <code>{price(signal.get('tp1'), digits)}</code> ({_r(signal.get('rr1'))})"]
    if signal.get("tp2") is not None:
        lines.append(f"TP2: <code>{price(signal.get('tp2'), digits)}</code> ({_r(signal.get('rr2'))})")
    return lines


def live_line(live: Any) -> str:
    """"Live: 41% reached TP1 first, -0.03R after fees on average (n = 57 closed 1h BOS+OB signals)"."""
    if not isinstance(live, dict):
        return ""
    try:
        what = " ".join(x for x in (str(live.get("interval") or ""), str(live.get("setup_kind") or "")) if x)
        return (f"Live: {float(live['tp1_first_pct']):.0f}% reached TP1 first, {float(live['avg_r']):+.2f}R after "
                f"fees on average (n = {int(live['n']):,} closed {esc(what)} signals)")
    except (KeyError, TypeError, ValueError):
        return ""


def record_line(record: Any) -> str:
    """"Setups like this: 44% reached TP1 first, +0.08R after fees on average (n = 1,204, backtest 2021–2023)"."""
    if not isinstance(record, dict):
        return ""
    try:
        return (f"Setups like this: {float(record['tp1_first_pct']):.0f}% reached TP1 first, "
                f"{float(record['avg_r']):+.2f}R after fees on average (n = {int(record['n']):,}, "
                f"backtest {esc(record.get('period', ''))})")
    except (KeyError, TypeError, ValueError):
        return ""


def active_since(signal: dict[str, Any]) -> str:
    """"Setup active since HH:MM UTC" (the date too when it is not the candle's day): when the setup
    first appeared, from the analysis; empty for a signal without a setup identity."""
    since = (signal.get("setup") or {}).get("since") if isinstance(signal.get("setup"), dict) else None
    if not isinstance(since, int) or isinstance(since, bool):
        return ""
    clock = time.strftime("%H:%M", time.gmtime(since / 1000))
    other_day = day(since) != day(int(signal.get("open_time") or since))
    return f"Setup active since {clock} UTC" + (f" on {day(since)}" if other_day else "")
FOLLOWUP_LINES = {  # by the outcome's reason
    "tp1": "TP1 hit, {r} so far",
    "tp2": "TP2 hit, closed at {r}",
    "stop": "stopped, closed at {r}",
    "tp1_then_stop": "stopped after TP1, closed at {r}",
    "expired": "expired after {bars} bars, closed at {r}",
}


def followup_text(line: dict[str, Any]) -> str:
    """One line about a delivered signal's outcome: `BTCUSDT 1h LONG from 29 Nov 14:00 UTC: TP1 hit, +0.70R so far`."""
    try:
        issued = when(int(line["open_time"]) + INTERVAL_MS[str(line["interval"])])  # the signal came at the close
    except (KeyError, TypeError, ValueError):
        issued = "-"
    what = FOLLOWUP_LINES.get(str(line.get("reason")), FOLLOWUP_LINES["expired"])
    r = f"{float(line.get('result_r') or 0):+.2f}R"
    subject = f"{esc(line.get('symbol'))} {esc(line.get('interval'))} {esc(line.get('side'))}"
    return f"<b>{subject}</b> from {issued}: {what.format(r=r, bars=esc(line.get('bars')))}"


def no_setup_text(read: dict[str, Any]) -> str:
    """The market read when there is no trade: why, the bias, and that nothing was charged."""
    lines = [
        f"⚪ <b>{esc(read.get('symbol'))}</b> {esc(read.get('interval'))} · no setup",
        f"Why: {esc(read.get('reason', 'no qualifying setup'))}",
    ]
    if read.get("bias"):
        lines.append(f"Bias: {esc(read['bias'])}")
    smc = smc_summary(read.get("smc"), decimals(read.get("smc") or {}))
    if smc:
        lines.append(f"<b>SMC</b> {smc}")
    lines.append(f"Candle: {when(read.get('open_time'))}")
    lines.append("No credits were charged.")
    return "\n".join(lines)


def scan_text(scan: dict[str, Any]) -> str:
    parts = [f"<b>Scan of the top {len(scan.get('symbols', []))} USDT pairs</b> ({esc(scan.get('interval'))})"]
    for signal in scan.get("signals", []):
        parts.append(signal_text(signal).removesuffix("\n" + FOOTER))
    quiet = [esc(read.get("symbol")) for read in scan.get("no_setup", [])]
    if quiet:
        parts.append("No setup: " + ", ".join(quiet))
    parts.append(FOOTER)
    return "\n\n".join(parts)


def smc_summary(smc: Any, digits: int = 2) -> str:
    """Trend, last structure break, nearest order block and FVG, RSI (other shapes: scalar items)."""
    if not isinstance(smc, dict) or not smc:
        return ""
    parts = []
    if smc.get("trend"):
        parts.append(f"trend {esc(smc['trend'])}")
    brk = smc.get("last_break")
    if isinstance(brk, dict):
        parts.append(f"{esc(brk.get('type'))} {esc(brk.get('direction'))} at {price(brk.get('level'), digits)}")
    for key, label in (("order_block", "OB"), ("fvg", "FVG")):
        zone = smc.get(key)
        if isinstance(zone, dict):
            parts.append(f"{label} {esc(zone.get('direction'))} "
                         f"{price(zone.get('bottom'), digits)}–{price(zone.get('top'), digits)}")
    if smc.get("rsi") is not None:
        parts.append(f"RSI {esc(smc['rsi'])}")
    if not parts:
        parts = [f"{esc(k)}: {esc(v)}" for k, v in list(smc.items())[:8] if isinstance(v, str | int | float)]
    return " · ".join(parts)


def _r(value: Any) -> str:
    try:
        return f"{float(value):.1f}R"
    except (TypeError, ValueError):
        return "-"


OUTCOME_LABELS = {"open": "open", "tp1": "TP1 hit, open", "tp2": "TP2", "stop": "stopped",
                  "tp1_then_stop": "TP1, then stopped", "expired": "expired"}


def outcome_label(status: Any) -> str:
    """A TradeStatus as shown: `TP2 +1.83R`, `TP1 hit, open`."""
    label = OUTCOME_LABELS.get(status.status, esc(status.status))
    return label if status.result_r is None else f"{label} {status.result_r:+.2f}R"


def history_text(records: Sequence[Any], outcomes: Mapping[str, Any] | None = None, last: int = 10) -> str:
    """/history: the user's last `last` signal charges, refunds of undelivered ones, purchases and
    revocations of refunded purchases, newest last; each signal with its setups' outcomes (TradeStatus by
    trade id: the signal id, or `<id>/<symbol>`)."""
    moves = [e for e in ledger_entries(records) if e.signal_id is not None or e.charge_id is not None][-last:]
    rows = [f"{when(e.at)} · {_history_row(e, outcomes)}" for e in moves]
    return "<b>Your last signals</b>\n" + "\n".join(rows) if rows else "No signals yet. Try /analyze BTC."


def _history_row(e: Any, outcomes: Mapping[str, Any] | None) -> str:
    if e.kind == "signal":
        return " · ".join([f"{esc(e.reason)} · -{-e.amount} credits", *_outcomes_of(e.signal_id, outcomes)])
    if e.kind == "revoke":
        return f"purchase refunded in Stars · -{-e.amount} credits"
    if e.charge_id is not None:
        return f"bought with Stars · +{e.amount} credits"
    return f"{esc(e.signal_id)} not delivered, refunded · +{e.amount} credits"


WINRATE_PERIODS = {"7d": 7, "30d": 30, "90d": 90, "all": None}  # days of market time


def winrate_text(report: Any, period: str, symbol: str | None = None) -> str:
    """/winrate: figures over closed signals, autosignals and manual signals apart (a `Winrate`)."""
    span = "all signals" if period == "all" else f"closed in the last {period[:-1]} days"
    head = f"<b>Track record</b> · {span}" + (f" · {esc(symbol)}" if symbol else "")
    lines = [head]
    for title, summary, still_open in (("Autosignals", report.auto, report.open_auto),
                                       ("Manual signals", report.manual, report.open_manual)):
        lines.append(f"<b>{title}</b>: {summary.closed} closed, {still_open} open")
        if summary.closed:
            lines += _summary_lines(summary)
    if report.by_symbol:
        lines.append("<b>By symbol</b> (closed · TP1 first · avg R · profit factor · max DD)")
        lines += [f"{esc(s)}: {x.closed} · {_pct(x.tp1_first_pct)} · {x.avg_r:+.2f}R · {_pf(x.profit_factor)} · "
                  f"{x.max_drawdown_r:.2f}R" for s, x in report.by_symbol]
    lines.append("R: the result in units of the signal's risk (entry to stop), after fees; entries at market.")
    return "\n".join(lines)


def _summary_lines(s: Any) -> list[str]:
    return [
        f"TP1 before stop {_pct(s.tp1_first_pct)} · TP2 {_pct(s.tp2_pct)} · stopped {_pct(s.stopped_pct)} · "
        f"expired {_pct(s.expired_pct)}",
        f"Average {s.avg_r:+.2f}R · profit factor {_pf(s.profit_factor)} · max drawdown {s.max_drawdown_r:.2f}R",
    ]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _pf(value: float | None) -> str:
    return "- (no loss)" if value is None else f"{value:.2f}"


def _outcomes_of(signal_id: str, outcomes: Mapping[str, Any] | None) -> list[str]:
    """The outcome labels of a signal's setups: one for a single setup, `SYMBOL label` each for a scan."""
    labels = []
    for trade_id, status in (outcomes or {}).items():
        base, _, symbol = trade_id.partition("/")
        if base == signal_id:
            labels.append(f"{esc(symbol)} {outcome_label(status)}" if symbol else outcome_label(status))
    return labels


def audit_text(user_id: int, records: Sequence[Any]) -> str:
    """The ledger of one user (`domain.ledger`, as `main.py audit` shows it), with the other events between."""
    entries = {entry.position: entry for entry in ledger_entries(records)}
    rows = []
    for record in records:
        entry = entries.get(record.position)
        if entry is None:
            rows.append(f"{when(record.recorded_at)} {esc(record.type)}")
        elif entry.kind == "grant":
            subject = entry.signal_id or entry.charge_id
            refund = f" {esc(subject)}" if subject else ""
            rows.append(f"{when(entry.at)} +{entry.amount} {esc(entry.reason)}{refund} = {entry.balance}")
        elif entry.kind == "revoke":
            rows.append(f"{when(entry.at)} -{-entry.amount} {esc(entry.reason)} {esc(entry.charge_id)} "
                        f"= {entry.balance}")
        else:
            rows.append(f"{when(entry.at)} -{-entry.amount} {esc(entry.signal_id)} {esc(entry.reason)} "
                        f"= {entry.balance}")
    return f"<b>Ledger of {user_id}</b>\n" + ("\n".join(rows) if rows else "(empty)")


_TAG = re.compile(r"<[^>]+>")


def plain(text: str) -> str:
    """The HTML reply as plain text (for the console)."""
    return html.unescape(_TAG.sub("", text))


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at line ends (a longer line is cut hard)."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            candidate = line
        current = candidate
    if current or not pieces:
        pieces.append(current)
    return pieces


def timeframe_refused(given: str, served: Sequence[str], command: str = "futures") -> str:
    """Plain text (the caller escapes it): a timeframe /futures (or /chart) does not serve, as typed."""
    return (f"/{command} does not serve the timeframe {given}. Timeframes are case-sensitive as on Binance "
            f"(1m is a minute, 1M a month); choose one of {' '.join(served)}.")


def rate_limited_text(limit: int, wait_ms: int) -> str:
    return f"At most {limit} signal requests a minute; retry in {(wait_ms + 999) // 1000} s."


def welcome_text(state: UserState, again: bool) -> str:
    name = esc(state.username or "trader")
    head = f"Welcome back, {name}!" if again else f"Welcome, {name}! You have {state.credits} free credits."
    return f"{head}\n\n{HELP}"


def credits_text(state: UserState, now: int) -> str:
    tier = state.tier(now)
    if tier == "premium":
        tier = f"premium until {day(state.premium_until or 0)}"
    if state.receives_autosignals(now):
        auto = "on" + (f" until {day(state.autosignal_until)}" if state.autosignal_until and not state.lifetime
                       else "")
    elif state.muted and (state.lifetime or (state.autosignal_until or 0) > now):
        auto = "muted (/autosignal on)"
    else:
        auto = "not included"
    more = "" if state.lifetime else "\nMore credits or premium: /buy"
    return f"Balance: {state.credits} credits\nTier: {tier}\nAutosignals: {auto}{more}"


CAPTION_LIMIT = 1024


def caption_length(text: str) -> int:
    """Length of an HTML caption as Telegram limits it: after entity parsing (tags dropped, entities
    decoded), in UTF-16 code units, the unit of Telegram's entity offsets (an emoji may count 2)."""
    return len(plain(text).encode("utf-16-le")) // 2


def chart_caption(read: dict[str, Any]) -> str:
    """The caption of a /chart: the pair, the bias and structure it shows, and where trade levels are sold."""
    symbol, interval = esc(read.get("symbol")), esc(read.get("interval"))
    lines = [f"📈 <b>{symbol}</b> {interval} · chart of the current analysis"]
    if read.get("bias"):
        lines.append(f"Bias: {esc(read['bias'])}")
    smc = smc_summary(read.get("smc"), decimals(read if "precision" in read else read.get("smc") or {}))
    if smc:
        lines.append(f"<b>SMC</b> {smc}")
    lines.append(f"Candle: {when(read.get('open_time'))}")
    lines.append(f"Entry, stop and targets: /futures {symbol} {interval}")
    lines.append(FOOTER)
    return "\n".join(lines)
