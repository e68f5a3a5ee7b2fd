"""Why a command changes nothing, as data: a code and its parameters.

Deciders and actors return these; the Telegram adapter turns the code into a sentence in
the user's language (`telegram_adapter/locales/*.ftl`, key `rejected-<code>`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, init=False)
class Rejection:
    """`Rejection("insufficient_credits", cost=20, balance=0)`."""

    code: str
    params: Mapping[str, Any]

    def __init__(self, code: str, **params: Any) -> None:
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "params", params)

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"Rejection({self.code!r}{args})"
