"""Every sentence the bot says, one Fluent catalogue per language (`locales/<code>.ftl`).

Fluent rather than gettext: a message names its placeholders (`{ $cost }`, so a translation can
reorder them and a test can check both languages use the same ones) and chooses plural forms by the
language's own CLDR rules inside the message, with no msgid/msgstr pairs or compiled .mo files.
fluent.runtime formats numbers with Babel; prices and dates are formatted here with Babel too, for
the locale (Indonesian writes 1.234,50 and 14.05).

Every text parameter is HTML-escaped before it reaches a message, so a symbol or a name with `<`,
`&` or quotes cannot break Telegram's HTML; the catalogues themselves use only Telegram's tags.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from babel.dates import format_skeleton
from babel.numbers import format_decimal
from fluent.runtime import FluentBundle, FluentResource
from fluent.syntax import FluentParser, ast, visitor

from domain.language import DEFAULT, LANGUAGES

LOCALES = Path(__file__).with_name("locales")


class Raw(str):
    """Text that is already Telegram HTML (a rendered part of a larger message): not escaped again."""


def source(language: str) -> str:
    return (LOCALES / f"{language}.ftl").read_text(encoding="utf-8")


@cache
def _bundle(language: str) -> FluentBundle:
    bundle = FluentBundle([language], use_isolating=False)  # no Unicode isolation marks in Telegram text
    bundle.add_resource(FluentResource(source(language)))
    return bundle


def text(language: str, key: str, /, **params: Any) -> str:
    """The message `key` in `language` (the default language when it is not one we speak).

    Strings are escaped; numbers stay numbers, so plural selectors and Babel's grouping apply.
    Raises KeyError for a key the catalogue lacks, ValueError for a missing or unknown parameter.
    """
    bundle = _bundle(language if language in LANGUAGES else DEFAULT)
    message = bundle.get_message(key)
    if message.value is None:
        raise KeyError(key)
    args = {name: _arg(value) for name, value in params.items()}
    out, errors = bundle.format_pattern(message.value, args)
    if errors:
        raise ValueError(f"{language}/{key}: {errors}")
    return out


def esc(value: Any) -> str:
    """A value as Telegram HTML text."""
    return html.escape(str(value), quote=True)


def _arg(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return str(value) if isinstance(value, Raw) else esc(value)


# --- Babel formatting for the locale ---------------------------------------------------------


def price(value: Any, digits: int, language: str) -> str:
    """A price at the symbol's tick precision (`digits` after the point), grouped for the locale."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return html.escape(str(value))
    return fixed(number, digits, language)


def fixed(value: float, digits: int, language: str, signed: bool = False) -> str:
    """A figure with `digits` decimals (an R multiple, a percentage), `+` first when `signed`."""
    body = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    pattern = f"+{body};-{body}" if signed else body
    return format_decimal(Decimal(value), format=pattern, locale=language)  # the float's exact value, rounded


def moment(ms: int | None, language: str) -> str:
    """Date and time (UTC) as the locale writes them: `Nov 29, 2026 14:05 UTC`, `29 Nov 2026 14.05 UTC`."""
    if ms is None:
        return "-"
    return f"{date(ms, language)} {clock(ms, language)} UTC"


def date(ms: int, language: str) -> str:
    return format_skeleton("yMMMd", _utc(ms), locale=language)


def clock(ms: int, language: str) -> str:
    return format_skeleton("Hm", _utc(ms), tzinfo=UTC, locale=language)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


# --- what the tests check: keys and placeholders ----------------------------------------------


def keys(language: str) -> set[str]:
    return {entry.id.name for entry in _entries(language)}


def placeholders(language: str) -> dict[str, set[str]]:
    """Each message's variables (`$name`), wherever they appear (selectors included)."""
    found: dict[str, set[str]] = {}
    for entry in _entries(language):
        names: set[str] = set()
        _Variables(names).visit(entry)
        found[entry.id.name] = names
    return found


def _entries(language: str) -> Iterator[ast.Message]:
    for entry in FluentParser().parse(source(language)).body:
        if isinstance(entry, ast.Junk):
            raise ValueError(f"{language}.ftl does not parse: {entry.content[:80]!r}")
        if isinstance(entry, ast.Message):
            yield entry


class _Variables(visitor.Visitor):
    def __init__(self, names: set[str]) -> None:
        super().__init__()
        self.names = names

    def visit_VariableReference(self, node: ast.VariableReference) -> None:
        self.names.add(node.id.name)
