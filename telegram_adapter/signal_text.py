"""A signal, a market read without a setup, a /signals scan and a follow-up, worded in one language.

Prices keep the symbol's tick precision in every language; Babel groups them for the locale.
"""

from __future__ import annotations

import math
from typing import Any

from telegram_adapter.catalogue import Raw, clock, date, esc, fixed, moment, price, text

FOLLOWUP_REASONS = ("tp1", "tp2", "stop", "tp1_then_stop", "expired")
REASON_KEYS = {  # analysis.strategy's reason codes: a setup's evidence, then why there is no setup
    "order_block": "reason-order-block", "fvg": "reason-fvg", "break": "reason-break", "ema21": "reason-ema21",
    "ema_stack": "reason-ema-stack", "volume": "reason-volume", "rsi": "reason-rsi",
    "no_trigger": "no-setup-no-trigger", "conflicting": "no-setup-conflicting", "no_atr": "no-setup-no-atr",
    "stop_rounds_to_zero": "no-setup-stop-rounds-to-zero", "fees_too_high": "no-setup-fees-too-high",
    "no_room": "no-setup-no-room",
}
REASON_PRICES = frozenset({"price", "bottom", "top", "level", "ema21", "ema50", "ema200", "stop", "edge", "risk"})
REASON_FIGURES = {"distance_pct": 2, "within_pct": 1, "ratio": 2, "rsi": 1, "fee_pct": 2, "reward_r": 2,
                  "share_pct": 0, "max_share_pct": 0}  # decimals shown
DIRECTION_KEYS = {"bullish": "direction-bullish", "bearish": "direction-bearish", "neutral": "direction-neutral"}


def decimals(signal: dict[str, Any]) -> int:
    """Digits after the point for this symbol: the signal's precision, else from its price size."""
    precision = signal.get("precision")
    if isinstance(precision, int) and not isinstance(precision, bool) and 0 <= precision <= 12:
        return precision
    if isinstance(precision, float) and 0 < precision < 1:
        return min(12, max(0, round(-math.log10(precision))))
    try:
        entry = abs(float(signal.get("entry") or 0)) or 1.0
    except (TypeError, ValueError):
        entry = 1.0
    return min(8, max(2, 4 - math.floor(math.log10(entry))))


def signal_text(signal: dict[str, Any], lang: str) -> str:
    """A manual or auto signal, a /signals scan (signal["kind"] == "scan") or a follow-up ("followup")."""
    if signal.get("kind") == "scan":
        return scan_text(signal, lang)
    if signal.get("kind") == "followup":
        return followup_text(signal, lang)
    return "\n".join([*_setup_lines(signal, lang), text(lang, "footer")])


def _setup_lines(signal: dict[str, Any], lang: str) -> list[str]:
    digits = decimals(signal)
    side = str(signal.get("side", "")).upper()
    icon = "🟢" if side == "LONG" else "🔴"
    head = text(lang, "subject", symbol=str(signal.get("symbol")), interval=str(signal.get("interval")), side=side)
    lines = [
        f"{icon} {head}",
        text(lang, "signal-entry", price=price(signal.get("entry"), digits, lang)),
        text(lang, "signal-stop", price=price(signal.get("stop"), digits, lang)),
        text(lang, "signal-tp1", price=price(signal.get("tp1"), digits, lang), r=_r(signal.get("rr1"), lang)),
    ]
    if signal.get("tp2") is not None:
        lines.append(text(lang, "signal-tp2", price=price(signal.get("tp2"), digits, lang),
                          r=_r(signal.get("rr2"), lang)))
    if isinstance(signal.get("confidence"), int | float):
        lines.append(text(lang, "signal-confidence", confidence=signal["confidence"]))
    lines += [line for line in (record_line(signal.get("record"), lang), live_line(signal.get("live_record"), lang))
              if line]
    reasons = signal.get("reasons") or []
    if reasons:
        lines.append(text(lang, "signal-why"))
        lines.extend(text(lang, "bullet", item=reason_text(reason, lang, digits)) for reason in reasons)
    if smc := smc_summary(signal.get("smc"), digits, lang):
        lines.append(text(lang, "smc", summary=Raw(smc)))
    lines.append(text(lang, "signal-candle", when=moment(_ms(signal.get("open_time")), lang)))
    if since := active_since(signal, lang):
        lines.append(since)
    return lines


def record_line(record: Any, lang: str) -> str:
    """How setups like this did in the backtest; empty when the signal carries no such record."""
    if not isinstance(record, dict):
        return ""
    try:
        return text(lang, "signal-record", pct=fixed(float(record["tp1_first_pct"]), 0, lang),
                    r=fixed(float(record["avg_r"]), 2, lang, signed=True), n=int(record["n"]),
                    period=str(record.get("period", "")))
    except (KeyError, TypeError, ValueError):
        return ""


def live_line(live: Any, lang: str) -> str:
    """How closed live signals like this one (same interval and setup kind) did; empty before there are enough."""
    if not isinstance(live, dict):
        return ""
    try:
        what = " ".join(x for x in (str(live.get("interval") or ""), str(live.get("setup_kind") or "")) if x)
        return text(lang, "signal-live", pct=fixed(float(live["tp1_first_pct"]), 0, lang),
                    r=fixed(float(live["avg_r"]), 2, lang, signed=True), n=int(live["n"]), what=what)
    except (KeyError, TypeError, ValueError):
        return ""


def active_since(signal: dict[str, Any], lang: str) -> str:
    """When the setup first appeared (the date too when it is not the candle's day); empty without a setup."""
    setup = signal.get("setup")
    since = setup.get("since") if isinstance(setup, dict) else None
    if not isinstance(since, int) or isinstance(since, bool):
        return ""
    candle = _ms(signal.get("open_time")) or since
    if date(since, lang) == date(candle, lang):
        return text(lang, "signal-since", time=clock(since, lang))
    return text(lang, "signal-since-day", time=clock(since, lang), date=date(since, lang))


def followup_text(line: dict[str, Any], lang: str) -> str:
    """One line about a delivered signal's outcome, naming the signal by its candle as the signal did:
    `BTCUSDT 1h LONG (candle Nov 29, 2026 14:00 UTC): TP1 hit, …`."""
    reason = str(line.get("reason"))
    reason = reason if reason in FOLLOWUP_REASONS else "expired"
    if reason == "tp2" and line.get("single_target"):
        reason = "target"  # closed at its only target: "tp2" is the outcome's reason, not what the user saw
    bars = line.get("bars")
    what = text(lang, f"followup-{reason.replace('_', '-')}", r=_signed(line.get("result_r"), lang),
                bars=bars if isinstance(bars, int) and not isinstance(bars, bool) else 0)
    subject = f"{line.get('symbol')} {line.get('interval')} {line.get('side')}"
    return text(lang, "followup", subject=subject, when=moment(_ms(line.get("open_time")), lang), what=Raw(what))


def chart_caption(read: dict[str, Any], lang: str) -> str:
    """The caption of a /chart: the pair, the bias and structure it shows, and where trade levels are sold."""
    symbol, interval = str(read.get("symbol")), str(read.get("interval"))
    lines = ["📈 " + text(lang, "subject", symbol=symbol, interval=interval, side=Raw(text(lang, "chart-title")))]
    if read.get("bias"):
        lines.append(text(lang, "no-setup-bias", bias=direction(read["bias"], lang)))
    smc = read.get("smc") if isinstance(read.get("smc"), dict) else {}
    if summary := smc_summary(smc, decimals(read if "precision" in read else smc), lang):
        lines.append(text(lang, "smc", summary=Raw(summary)))
    lines.append(text(lang, "signal-candle", when=moment(_ms(read.get("open_time")), lang)))
    lines.append(text(lang, "chart-levels", symbol=symbol, interval=interval))
    lines.append(text(lang, "footer"))
    return "\n".join(lines)


def no_setup_text(read: dict[str, Any], lang: str) -> str:
    """The market read when there is no trade: why, the bias, and that nothing was charged."""
    lines = [
        "⚪ " + text(lang, "subject", symbol=str(read.get("symbol")), interval=str(read.get("interval")),
                    side=Raw(text(lang, "no-setup-title"))),
        text(lang, "no-setup-why", reason=why_no_setup(read.get("reason"), lang)),
    ]
    if read.get("bias"):
        lines.append(text(lang, "no-setup-bias", bias=direction(read["bias"], lang)))
    smc = read.get("smc") if isinstance(read.get("smc"), dict) else {}
    if summary := smc_summary(smc, decimals(smc), lang):
        lines.append(text(lang, "smc", summary=Raw(summary)))
    lines.append(text(lang, "signal-candle", when=moment(_ms(read.get("open_time")), lang)))
    lines.append(text(lang, "no-credits-charged"))
    return "\n".join(lines)


def why_no_setup(reason: Any, lang: str) -> Raw:
    """Why there is no setup (a no-setup reason, a legacy sentence, or the generic words when there is none)."""
    return reason_text(reason, lang) if reason else Raw(text(lang, "no-setup-default"))


def reason_text(reason: Any, lang: str, digits: int | None = None) -> Raw:
    """A reason of analysis.strategy, `{"code": ..., **params}`, worded as HTML, its prices at `digits` (None: the
    reason's own `precision`). Anything else is a legacy sentence from an old event log, shown as it is."""
    if not isinstance(reason, dict) or reason.get("code") not in REASON_KEYS:
        return Raw(esc(reason))
    digits = decimals(reason) if digits is None else digits
    params: dict[str, Any] = {}
    for name, value in reason.items():
        if name == "votes":
            params[name] = Raw("; ".join(reason_text(vote, lang, digits) for vote in value))
        elif name in REASON_PRICES:
            params[name] = price(value, digits, lang)
        elif name in REASON_FIGURES:
            params[name] = fixed(float(value), REASON_FIGURES[name], lang)
        elif isinstance(value, bool):
            params[name] = "yes" if value else "no"
        elif name not in ("code", "precision"):
            params[name] = value
    return Raw(text(lang, REASON_KEYS[reason["code"]], **params))


def direction(value: Any, lang: str) -> Raw:
    """A direction code (bullish, bearish, neutral) in the reader's words; another value as it is."""
    key = DIRECTION_KEYS.get(str(value))
    return Raw(text(lang, key) if key else esc(value))


def scan_text(scan: dict[str, Any], lang: str) -> str:
    parts = [text(lang, "scan-title", count=len(scan.get("symbols") or []), interval=str(scan.get("interval")))]
    for signal in scan.get("signals") or []:
        parts.append("\n".join(_setup_lines(signal, lang)))
    quiet = [str(read.get("symbol")) for read in scan.get("no_setup") or []]
    if quiet:
        parts.append(text(lang, "scan-quiet", symbols=", ".join(quiet)))
    parts.append(text(lang, "footer"))
    return "\n\n".join(parts)


def smc_summary(smc: Any, digits: int, lang: str) -> str:
    """Trend, last structure break, nearest order block and FVG, RSI (other shapes: scalar items)."""
    if not isinstance(smc, dict) or not smc:
        return ""
    parts = []
    if smc.get("trend"):
        parts.append(text(lang, "smc-trend", trend=direction(smc["trend"], lang)))
    brk = smc.get("last_break")
    if isinstance(brk, dict):
        parts.append(text(lang, "smc-break", kind=str(brk.get("type")), direction=direction(brk.get("direction"), lang),
                          level=price(brk.get("level"), digits, lang)))
    for key, label in (("order_block", "OB"), ("fvg", "FVG")):
        zone = smc.get(key)
        if isinstance(zone, dict):
            parts.append(text(lang, "smc-zone", label=label, direction=direction(zone.get("direction"), lang),
                              bottom=price(zone.get("bottom"), digits, lang),
                              top=price(zone.get("top"), digits, lang)))
    if isinstance(smc.get("rsi"), int | float) and not isinstance(smc.get("rsi"), bool):
        parts.append(text(lang, "smc-rsi", rsi=smc["rsi"]))
    if not parts:
        parts = [text(lang, "smc-item", name=str(k), value=str(v))
                 for k, v in list(smc.items())[:8] if isinstance(v, str | int | float)]
    return " · ".join(parts)


def _r(value: Any, lang: str) -> str:
    try:
        return fixed(float(value), 1, lang)
    except (TypeError, ValueError):
        return "-"


def _signed(value: Any, lang: str) -> str:
    try:
        return fixed(float(value or 0), 2, lang, signed=True)
    except (TypeError, ValueError):
        return "-"


def _ms(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
