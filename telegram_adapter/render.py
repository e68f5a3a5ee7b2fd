"""A `Reply` (data from the actors) worded in its language: composite kinds have a function here, every
other kind is the catalogue message of the same name (`insufficient_credits` -> `insufficient-credits`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from actors.messages import Decision, Reply
from domain.language import LANGUAGES
from domain.ledger import describe_signal
from domain.ledger import entries as ledger_entries
from domain.outcomes import setups
from telegram_adapter.catalogue import Raw, date, esc, fixed, moment, text
from telegram_adapter.signal_text import chart_caption, no_setup_text, scan_text, why_no_setup

OUTCOMES = ("open", "tp1", "tp2", "target", "stop", "tp1_then_stop", "expired")
TIMES = ("until", "when")  # decision parameters that are ms UTC
SELLING = frozenset({"insufficient_credits", "balance"})  # replies that point to /buy only while it sells


def key(code: str) -> str:
    """The catalogue key of a reply kind or a rejection code."""
    return code.replace("_", "-")


def render(reply: Reply, payments: bool = False) -> str | None:
    """The Telegram HTML for a reply, or None when there is nothing to say. `payments`: whether /buy sells
    (else a reply short of credits points to an admin, as only an admin can add them)."""
    if reply.kind is None:
        return None
    payload = {**reply.payload, "payments": "on" if payments else "off"} if reply.kind in SELLING else reply.payload
    composite = COMPOSITES.get(reply.kind)
    if composite is not None:
        return composite(payload, reply.language)
    return text(reply.language, key(reply.kind), **payload)


def decision(outcome: Decision, lang: str) -> str:
    """What became of one candle (AutoSignal's outcome) as a line."""
    params = {k: moment(v, lang) if k in TIMES and isinstance(v, int) else v for k, v in outcome.params.items()}
    if outcome.code == "no_setup":
        params["reason"] = why_no_setup(params.get("reason"), lang)
    return text(lang, "decision-" + key(outcome.code), **params)


# --- account ---------------------------------------------------------------------------------


def help_text(payload: Mapping[str, Any], lang: str) -> str:
    return text(lang, "help") + ("\n\n" + text(lang, "help-admin") if payload.get("admin") else "")


def welcome(payload: Mapping[str, Any], lang: str) -> str:
    name = payload.get("name") or text(lang, "trader")
    head = (text(lang, "welcome-back", name=name) if payload.get("again")
            else text(lang, "welcome", name=name, credits=payload.get("credits", 0)))
    return f"{head}\n\n{help_text(payload, lang)}"


def balance(account: Mapping[str, Any], lang: str) -> str:
    tier = account["tier"]
    until = account.get("premium_until")
    tier_text = text(lang, "tier-premium", until=date(until, lang)) if tier == "premium" and until else \
        text(lang, "tier-lifetime" if tier == "lifetime" else "tier-free")
    auto = account["autosignals"]
    if auto == "until" and account.get("autosignal_until"):
        auto_text = text(lang, "autosignals-until", until=date(account["autosignal_until"], lang))
    else:
        auto_text = text(lang, "autosignals-" + key(auto if auto != "until" else "on"))
    body = text(lang, "balance", credits=account["credits"], tier=Raw(tier_text), autosignals=Raw(auto_text))
    return f"{body}\n{text(lang, 'balance-buy')}" if tier != "lifetime" and account.get("payments") == "on" else body


def admin_done(payload: Mapping[str, Any], lang: str) -> str:
    head = text(lang, "admin-done", command=payload["command"], user=str(payload["user"]))
    return f"{head}\n{balance(payload['account'], lang)}"


def language_now(payload: Mapping[str, Any], lang: str) -> str:
    return text(lang, "language-now", language=Raw(text(lang, "language-" + payload["language"])),
                available="|".join(LANGUAGES))


def refund_requested(payload: Mapping[str, Any], lang: str) -> str:
    params = {"charge": payload["charge"], "user": str(payload["user"])}
    head = text(lang, "refund-requested" if payload["new"] else "refund-already-requested", **params)
    if payload.get("unrecoverable"):
        return f"{head} {text(lang, 'refund-unrecoverable', credits=payload['unrecoverable'])}"
    return head


# --- signals without a charge ------------------------------------------------------------------


def no_setup(payload: Mapping[str, Any], lang: str) -> str:
    return no_setup_text(dict(payload["read"]), lang)


def caption(payload: Mapping[str, Any], lang: str) -> str:
    return chart_caption(dict(payload["read"]), lang)


def scan_nothing(payload: Mapping[str, Any], lang: str) -> str:
    return f"{scan_text(dict(payload['scan']), lang)}\n{text(lang, 'scan-nothing')}"


# --- history, track record, audit ----------------------------------------------------------------


def history(payload: Mapping[str, Any], lang: str) -> str:
    """/history: the last signal charges, refunds of undelivered ones, purchases and revocations, and the
    autosignals delivered (`AutoDelivered`), newest last; each signal with its setups' outcomes (TradeStatus
    by trade id: the signal id, or `<id>/<symbol>`)."""
    autos = payload.get("autosignals") or ()
    signals = [(r.data["signal_id"], r.data["signal"]) for r in payload["records"] if r.type == "ManualSignalIssued"]
    single = _single_target([*signals, *((a.signal_id, a.signal) for a in autos)])
    outcomes = {t: replace(s, status="target") if s.status == "tp2" and t in single else s
                for t, s in (payload.get("outcomes") or {}).items()}
    moves = [e for e in ledger_entries(payload["records"]) if e.signal_id is not None or e.charge_id is not None]
    rows = sorted([(e.at, _history_row(e, outcomes, lang)) for e in moves] +
                  [(a.at, _auto_row(a, outcomes, lang)) for a in autos], key=lambda row: row[0])
    lines = [f"{moment(at, lang)} · {row}" for at, row in rows[-payload["last"]:]]
    return "\n".join([text(lang, "history-title"), *lines]) if lines else text(lang, "history-empty")


def _single_target(signals: Sequence[tuple[str, Mapping[str, Any]]]) -> set[str]:
    """The trade ids of signals with no TP2: their close at the last target is shown as `target`."""
    return {trade_id for signal_id, signal in signals
            for trade_id, setup in setups(signal_id, signal) if setup.get("tp2") is None}


def _auto_row(auto: Any, outcomes: Mapping[str, Any], lang: str) -> str:
    row = text(lang, "history-autosignal", what=describe_signal(auto.signal))
    return " · ".join([row, *_outcomes_of(auto.signal_id, outcomes, lang)])


def _history_row(e: Any, outcomes: Mapping[str, Any], lang: str) -> str:
    if e.kind == "signal":
        row = text(lang, "history-signal", what=e.reason, credits=-e.amount)
        return " · ".join([row, *_outcomes_of(e.signal_id, outcomes, lang)])
    if e.kind == "revoke":
        return text(lang, "history-revoked", credits=-e.amount)
    if e.charge_id is not None:
        return text(lang, "history-bought", credits=e.amount)
    return text(lang, "history-refunded", signal=e.signal_id, credits=e.amount)


def _outcomes_of(signal_id: str, outcomes: Mapping[str, Any], lang: str) -> list[str]:
    """The outcome labels of a signal's setups: one for a single setup, `SYMBOL label` each for a scan."""
    labels = []
    for trade_id, status in outcomes.items():
        base, _, symbol = trade_id.partition("/")
        if base == signal_id:
            label = outcome_label(status, lang)
            labels.append(f"{esc(symbol)} {label}" if symbol else label)
    return labels


def outcome_label(status: Any, lang: str) -> str:
    """A TradeStatus as shown: `TP2 +1.83R`, `TP1 hit, open`."""
    label = text(lang, "outcome-" + key(status.status if status.status in OUTCOMES else "open"))
    return label if status.result_r is None else f"{label} {fixed(status.result_r, 2, lang, signed=True)}R"


def winrate(payload: Mapping[str, Any], lang: str) -> str:
    """/winrate: figures over closed signals, autosignals and manual signals apart (a `Winrate`), over the last
    `days` of market time (None: all)."""
    report, days, symbol = payload["report"], payload.get("days"), payload.get("symbol")
    head = text(lang, "winrate-title-all") if days is None else text(lang, "winrate-title-days", days=days)
    lines = [head + (" · " + esc(symbol) if symbol else "")]
    for title, summary, still_open in (("winrate-auto", report.auto, report.open_auto),
                                       ("winrate-manual", report.manual, report.open_manual)):
        lines.append(text(lang, title, closed=summary.closed, open=still_open))
        if summary.closed:
            lines += _summary_lines(summary, lang)
    if report.by_symbol:
        lines.append(text(lang, "winrate-by-symbol"))
        lines += [f"{esc(s)}: {x.closed} · {_pct(x.tp1_first_pct, lang)} · "
                  f"{fixed(x.avg_r, 2, lang, signed=True)}R · {_pf(x.profit_factor, lang)} · "
                  f"{fixed(x.max_drawdown_r, 2, lang)}R" for s, x in report.by_symbol]
    lines.append(text(lang, "winrate-note"))
    return "\n".join(lines)


def _summary_lines(s: Any, lang: str) -> list[str]:
    return [
        text(lang, "winrate-rates", tp1=_pct(s.tp1_first_pct, lang), tp2=_pct(s.tp2_pct, lang),
             stopped=_pct(s.stopped_pct, lang), expired=_pct(s.expired_pct, lang)),
        text(lang, "winrate-figures", r=fixed(s.avg_r, 2, lang, signed=True), pf=Raw(_pf(s.profit_factor, lang)),
             dd=fixed(s.max_drawdown_r, 2, lang)),
    ]


def _pct(value: float | None, lang: str) -> str:
    return "-" if value is None else f"{fixed(value, 1, lang)}%"


def _pf(value: float | None, lang: str) -> str:
    return text(lang, "winrate-no-loss") if value is None else fixed(value, 2, lang)


def audit(payload: Mapping[str, Any], lang: str) -> str:
    """The ledger of one user (`domain.ledger`, as `main.py audit` shows it), with the other events between."""
    records: Sequence[Any] = payload["records"]
    entries = {entry.position: entry for entry in ledger_entries(records)}
    rows = []
    for record in records:
        entry = entries.get(record.position)
        if entry is None:
            rows.append(f"{moment(record.recorded_at, lang)} {esc(record.type)}")
            continue
        if entry.kind == "grant":
            words = [f"+{entry.amount}", entry.reason, entry.signal_id or entry.charge_id]
        elif entry.kind == "revoke":
            words = [f"-{-entry.amount}", entry.reason, entry.charge_id]
        else:
            words = [f"-{-entry.amount}", entry.signal_id, entry.reason]
        rows.append(" ".join([moment(entry.at, lang), *(esc(w) for w in words if w), f"= {entry.balance}"]))
    body = "\n".join(rows) if rows else text(lang, "audit-empty")
    return f"{text(lang, 'audit-title', user=str(payload['user']))}\n{body}"


# --- autosignal admin --------------------------------------------------------------------------


def status(p: Mapping[str, Any], lang: str) -> str:
    cooldowns = p["cooldowns"]
    return "\n".join([
        text(lang, "status-enabled", on="yes" if p["enabled"] else "no"),
        text(lang, "status-watchlist", count=len(p["watchlist"]), symbols=", ".join(p["watchlist"]) or "-"),
        text(lang, "status-policy", interval=p["interval"], confidence=p["min_confidence"],
             minutes=p["cooldown_min"]) if p.get("policy_off") is None else
        text(lang, "status-policy-off", interval=p["interval"], why=p["policy_off"]),
        text(lang, "status-cooldowns", count=len(cooldowns)),
        *("  " + text(lang, "status-cooldown", symbol=symbol, side=side, until=moment(until, lang))
          for symbol, side, until in cooldowns),
        text(lang, "status-today", count=p["today"]),
        text(lang, "status-recipients", count=p["recipients"]),
        text(lang, "status-pending", count=p["pending"]),
        text(lang, "status-market", when=moment(p["market_time"], lang)),
    ])


def tick(payload: Mapping[str, Any], lang: str) -> str:
    lines = [f"{esc(symbol)}: {decision(outcome, lang)}" for symbol, outcome in payload["lines"]]
    return "\n".join([text(lang, "tick-title"), *lines])


COMPOSITES: dict[str, Callable[[Mapping[str, Any], str], str]] = {
    "help": help_text, "welcome": welcome, "balance": balance, "admin_done": admin_done,
    "language_now": language_now, "refund_requested": refund_requested, "no_setup": no_setup,
    "scan_nothing": scan_nothing, "history": history, "winrate": winrate, "audit": audit, "status": status,
    "tick": tick, "chart_caption": caption,
}
