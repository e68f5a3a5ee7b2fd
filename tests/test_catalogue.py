"""The catalogues: both languages complete and alike, every message used, and every message valid Telegram HTML
within Telegram's length for hostile parameters (symbols and names with `<`, `&`, quotes), in both languages."""

from __future__ import annotations

import ast
import string
from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.messages import Decision, Reply, TradeStatus, Winrate
from domain.language import LANGUAGES
from domain.outbox import fold
from domain.track_record import Summary
from eventstore.records import Recorded
from telegram_adapter import catalogue
from telegram_adapter.formatting import TEXT_LIMIT, split_text
from telegram_adapter.render import decision, render
from telegram_adapter.signal_text import REASON_KEYS, REASON_PRICES, no_setup_text, reason_text, signal_text
from tests.fakes.bot_api import html_error
from tests.fakes.telegram_stack import SIGNAL

ROOT = Path(__file__).resolve().parent.parent
KEYS = sorted(catalogue.keys("en"))
hostile = st.text(alphabet=string.ascii_letters + "<>&\"' /\n" + "éü💥", max_size=60)
value = st.one_of(hostile, st.integers(-10**9, 10**9), st.floats(-1e9, 1e9, allow_nan=False))


def test_both_languages_have_the_same_messages_with_the_same_placeholders():
    english, indonesian = catalogue.placeholders("en"), catalogue.placeholders("id")
    assert sorted(english) == sorted(indonesian)
    differing = {k: (english[k], indonesian[k]) for k in english if english[k] != indonesian[k]}
    assert differing == {}


def _constants() -> set[str]:
    """Every string constant (and f-string piece) in the code that words or names a message."""
    found: set[str] = set()
    for folder in ("telegram_adapter", "actors", "domain"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found.add(node.value)
    return found


def _used(key: str, constants: set[str]) -> bool:
    """A key is used when the code names it, as a key or as a code (`insufficient_credits`), whole or as a
    constant prefix plus a constant code (`f"decision-{code}"`) or a constant code plus a suffix (`f"{name}_on"`)."""
    snake = key.replace("-", "_")
    if key in constants or snake in constants:
        return True
    for cut in range(1, len(key)):
        head, tail = key[:cut], key[cut:]
        snake_head, snake_tail = snake[:cut], snake[cut:]
        if head.endswith("-") and (head in constants or snake_head in constants) \
                and (tail in constants or tail.replace("-", "_") in constants):
            return True
        if snake_tail.startswith("_") and snake_tail in constants and snake_head in constants:
            return True
    return False


def test_every_message_is_used():
    constants = _constants()
    unused = [key for key in KEYS if not _used(key, constants)]
    assert unused == []


def test_a_missing_message_or_parameter_is_an_error_not_a_silent_gap():
    assert catalogue.text("id", "rate-limited", limit=5, seconds=3) == \
        "Maksimal 5 permintaan sinyal per menit; coba lagi dalam 3 detik."
    try:
        catalogue.text("en", "rate-limited", limit=5)
    except ValueError as exc:
        assert "seconds" in str(exc)
    else:
        raise AssertionError("a missing parameter went unnoticed")


def _valid(text: str) -> None:
    pieces = split_text(text)
    assert all(len(p) <= TEXT_LIMIT for p in pieces)
    for piece in pieces:
        assert html_error(piece) is None, piece


NAMES = sorted(set().union(*catalogue.placeholders("en").values()))


@settings(max_examples=30, deadline=None)
@given(st.fixed_dictionaries({name: value for name in NAMES}))
def test_every_message_in_both_languages_is_telegram_html_for_hostile_parameters(params):
    for lang in LANGUAGES:
        for key, names in catalogue.placeholders(lang).items():
            _valid(catalogue.text(lang, key, **{name: params[name] for name in names}))


@settings(max_examples=25, deadline=None)
@given(symbol=hostile, name=hostile, reason=hostile, lang=st.sampled_from(LANGUAGES))
def test_composite_replies_escape_what_users_and_markets_put_in_them(symbol, name, reason, lang):
    signal = {**SIGNAL, "symbol": symbol, "reasons": [reason] * 3, "smc": {"trend": reason, name: reason}}
    read = {"symbol": symbol, "interval": "1h", "reason": reason, "bias": name, "smc": {"trend": reason}}
    scan = {"kind": "scan", "interval": "1h", "symbols": [symbol] * 10, "signals": [signal] * 10,
            "no_setup": [read]}
    summary = Summary(3, 50.0, 20.0, 30.0, 20.0, 0.5, 1.4, 1.2)
    records = tuple(Recorded(i, "user-7", i, "ManualSignalIssued", {"signal_id": f"m:7:{i}", "update_id": i,
                                                                    "cost": 20, "signal": {**SIGNAL, "symbol": symbol}},
                             {}, 1_732_000_000_000 + i) for i in range(1, 12))
    replies = [
        Reply("welcome", {"name": name, "credits": 100, "admin": True}, lang),
        Reply("no_setup", {"read": read}, lang), Reply("scan_nothing", {"scan": scan}, lang),
        Reply("chart_caption", {"read": read}, lang),
        Reply("history", {"records": records, "last": 10,
                          "outcomes": {"m:7:3": TradeStatus("tp2", 1.8), f"m:7:4/{symbol}": TradeStatus("open")}},
              lang),
        Reply("winrate", {"report": Winrate(summary, summary, 1, 2, ((symbol, summary),)), "days": 30,
                          "symbol": symbol}, lang),
        Reply("audit", {"user": 7, "records": records}, lang),
        Reply("tick", {"lines": ((symbol, Decision("no_setup", {"reason": reason})),
                                 (symbol, Decision("cooldown", {"side": "LONG", "until": 1_732_000_000_000})))},
              lang),
        Reply("insufficient_credits", {"command": name, "cost": 20, "balance": 0}, lang, refused=True),
    ]
    for reply in replies:
        _valid(render(reply))
    _valid(signal_text(signal, lang))
    _valid(signal_text(scan, lang))


REASON_VALUES = {  # what analysis.strategy puts in a reason's parameters besides prices and figures
    "direction": st.sampled_from(["bullish", "bearish"]), "where": st.sampled_from(["around", "below", "above"]),
    "side": st.sampled_from(["LONG", "SHORT"]), "kind": st.sampled_from(["BOS", "CHOCH"]),
    "zone": st.sampled_from(["order_block", "fvg"]), "stretched": st.booleans(), "limit": st.sampled_from([30, 70]),
    "bars": st.integers(0, 10_000), "bars_ago": st.integers(0, 10_000),
}
REASON_PLACEHOLDERS = {code: catalogue.placeholders("en")[key] for code, key in REASON_KEYS.items()}
REASON_NAMES = sorted(set().union(*REASON_PLACEHOLDERS.values()))


@settings(max_examples=30, deadline=None)
@given(st.fixed_dictionaries({name: REASON_VALUES.get(name, st.floats(0, 1e7, allow_nan=False))
                              for name in REASON_NAMES if name != "votes"}), st.integers(0, 8))
def test_every_reason_code_is_worded_in_both_languages_with_its_prices_at_the_symbol_precision(params, digits):
    votes = [{"code": code, **params} for code in ("order_block", "fvg", "break")]
    for code, names in REASON_PLACEHOLDERS.items():
        reason = {"code": code, "precision": digits, **{n: votes if n == "votes" else params[n] for n in names}}
        worded = {lang: reason_text(reason, lang) for lang in LANGUAGES}
        assert worded["en"] != worded["id"], code
        for lang, words in worded.items():
            _valid(words)
            assert "{" not in words and "$" not in words
            for name in names & REASON_PRICES:
                assert catalogue.price(params[name], digits, lang) in words, (code, name)


def test_a_reason_from_an_old_log_is_its_english_sentence_as_it_was():
    """Event logs written before reasons were codes hold English sentences: shown as they are, escaped."""
    legacy = "Bullish order block 1.2-1.3 is 0.40% below price (candle 3 bars ago) & <b>"
    signal = signal_text({**SIGNAL, "reasons": [legacy]}, "id")
    assert "• Bullish order block 1.2-1.3 is 0.40% below price (candle 3 bars ago) &amp; &lt;b&gt;" in signal
    read = no_setup_text({"symbol": "BTCUSDT", "interval": "1h", "reason": "no zone near 1.3", "bias": "bullish"},
                         "id")
    assert "Alasan: no zone near 1.3" in read and "Bias: bullish" in read
    assert decision(Decision("no_setup", {"reason": "no zone near 1.3"}), "id") == "tidak ada setup: no zone near 1.3"


def _closed_at_target(tp2: float | None) -> dict:
    """The follow-up the Outbox owes when a delivered manual signal closes at its last target."""
    signal = {**SIGNAL, "tp2": tp2}
    sid = "m:7:3"
    logged = [("user-7", "ManualSignalIssued", {"signal_id": sid, "signal": signal, "chat_id": 7}),
              ("outbox", "SignalDelivered", {"signal_id": sid, "chat_id": 7, "message_id": 1}),
              ("outcomes", "SignalEntered", {"signal_id": sid, "price": 3567.0, "open_time": 1}),
              ("outcomes", "SignalClosed", {"signal_id": sid, "result_r": 1.4, "result_pct": 1.0, "reason": "tp2",
                                            "bars": 3})]
    outbox = fold(Recorded(i, stream, i, kind, data, {}, 1_732_713_300_000 + i)
                  for i, (stream, kind, data) in enumerate(logged, 1))
    [owed] = outbox.pending.values()
    return owed.signal


def test_a_signal_with_one_target_closes_at_the_target_not_at_tp2_named_by_its_candle():
    single, double = _closed_at_target(None), _closed_at_target(3650.0)
    assert signal_text(single, "en") == "<b>ETHUSDT 15m LONG</b> (candle Nov 27, 2024 13:00 UTC): " \
                                        "target (TP1) hit, closed at +1.40R"
    assert signal_text(single, "id") == "<b>ETHUSDT 15m LONG</b> (candle 27 Nov 2024 13.00 UTC): " \
                                        "target (TP1) tercapai, ditutup di +1,40R"
    assert "TP2 hit, closed at +1.40R" in signal_text(double, "en")
    records = (Recorded(1, "user-7", 1, "ManualSignalIssued", {"signal_id": "m:7:3", "update_id": 3, "cost": 20,
                                                               "signal": {**SIGNAL, "tp2": None}}, {}, 1),)
    history = Reply("history", {"records": records, "last": 10, "outcomes": {"m:7:3": TradeStatus("tp2", 1.4)}})
    assert render(history).endswith("target (TP1) hit +1.40R")
    assert render(replace(history, language="id")).endswith("target (TP1) tercapai +1,40R")
