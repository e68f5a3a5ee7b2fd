"""The render workers' two entry points. matplotlib is imported inside them, in the worker, so the bot's
own process (which only builds specs and awaits results) never loads it: about 280 ms and 40 MB saved."""

from __future__ import annotations

from telegram_adapter.charts.spec import ChartSpec


def render(spec: ChartSpec) -> bytes:
    """The chart as PNG bytes (draw.render_png)."""
    from telegram_adapter.charts.draw import render_png

    return render_png(spec)


def warm_up() -> None:
    """Import matplotlib and draw once (draw.warm_up): the pool's initializer."""
    from telegram_adapter.charts.draw import warm_up as draw_once

    draw_once()
