"""Presentation lives only in telegram_adapter/: actors and deciders return codes and data, never sentences.

A static scan of actors/ and domain/: nothing imports the adapter; no sentence-like string literal appears
outside docstrings, log calls, raised exceptions and the operator diagnostics listed below; and every code a
Reply, a Rejection or a Decision carries is a message in the English catalogue.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from telegram_adapter import catalogue
from telegram_adapter.render import COMPOSITES, key

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("actors", "domain")
OPERATOR_DIAGNOSTICS = {  # modules whose texts only an operator reads (`main.py verify`'s findings, the
    # reasons of AnalysisFailed and FeedError, which sessions word by their kind)
    "domain/invariants.py", "domain/payment_checks.py", "actors/analyzer.py", "actors/market_feed.py",
}
SENTENCE = re.compile(r"[A-Za-z]{2,}[,:;]?(?: +[A-Za-z'(),:;.-]+){2,}")
CODE = re.compile(r"[a-z][a-z0-9_]*")
CARRIERS = ("Reply", "Rejection", "Decision")


def sources() -> Iterator[tuple[str, ast.Module]]:
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            yield str(path.relative_to(ROOT)), ast.parse(path.read_text(encoding="utf-8"))


def sentences(name: str, tree: ast.Module) -> list[str]:
    """The sentence-like string literals of a module outside docstrings, log calls and raised exceptions."""
    skipped = operator_only(tree)
    return [f"{name}:{node.lineno} {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped
            and not node.value.startswith("/") and SENTENCE.search(node.value)]


def operator_only(tree: ast.Module) -> set[int]:
    """ids of the nodes inside docstrings, log calls and raise statements."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skipped.add(id(first.value))
        if isinstance(node, ast.Raise) and node.exc is not None:
            skipped.update(id(n) for n in ast.walk(node.exc))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id in ("log", "logging"):
            skipped.update(id(n) for arg in node.args for n in ast.walk(arg))
    return skipped


def test_actors_and_deciders_import_nothing_from_the_telegram_adapter():
    found = []
    for name, tree in sources():
        for node in ast.walk(tree):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{name}:{node.lineno} {m}" for m in modules
                      if m.split(".")[0] in ("telegram_adapter", "aiogram")]
    assert found == []


def test_actors_and_deciders_write_no_sentences_for_users():
    found = []
    for name, tree in sources():
        if name in OPERATOR_DIAGNOSTICS:
            continue
        found += sentences(name, tree)
    assert found == [], "user-facing text belongs in telegram_adapter/locales:\n" + "\n".join(found)


def test_the_strategy_gives_its_reasons_as_codes_not_sentences():
    """A signal's "Why" and a no-setup's reason reach users in their language: the strategy writes codes."""
    path = ROOT / "analysis" / "strategy.py"
    found = sentences("analysis/strategy.py", ast.parse(path.read_text(encoding="utf-8")))
    assert found == [], "reasons are codes and parameters, worded in telegram_adapter/signal_text.py:\n" + \
        "\n".join(found)


def codes() -> Iterator[tuple[str, str, str]]:
    """(where, carrier, code) for every Reply/Rejection/Decision built with a constant code (f-strings: their
    constant prefix and suffix, e.g. `{name}_usage`)."""
    for name, tree in sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CARRIERS \
                    and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    yield f"{name}:{node.lineno}", node.func.id, first.value


def test_every_code_is_a_code_and_has_its_message():
    english = catalogue.keys("en")
    for where, carrier, code in codes():
        assert CODE.fullmatch(code), f"{where}: {carrier}({code!r}) is not a code"
        wanted = {"decision-" + key(code)} if carrier == "Decision" else {key(code)}
        if carrier == "Rejection":  # the autosignal decider's refusals of a candle are worded as decisions
            wanted.add("decision-" + key(code))
        assert wanted & english or code in COMPOSITES, f"{where}: no message {wanted} for {carrier}({code!r})"
