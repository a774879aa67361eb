"""Which window a source's run replaces: the requested window widened by the source's look-back and, early in a
month, back to the previous billing period while it is still open (``close_days``). Light on purpose: the DAG files
read these at parse time."""

from __future__ import annotations

from datetime import timedelta

from collectors.core.base import Window
from collectors.core.registry import collector_class
from openfinops.config import SourceConfig


def lookback_days(source: SourceConfig) -> int:
    """The configured look-back, else the collector type's default."""
    if source.lookback_days is not None:
        return source.lookback_days
    return collector_class(source.type).default_lookback_days


def close_days(source: SourceConfig) -> int:
    """The configured month-close period, else the collector type's default."""
    if source.close_days is not None:
        return source.close_days
    return collector_class(source.type).default_close_days


def effective_window(source: SourceConfig, window: Window) -> Window:
    """Widen the window by the source's look-back (restated bills are re-pulled and replaced) and, while it starts
    within ``close_days`` of a new month, back to the start of the previous month: that billing period is still
    open (late usage, month-close credits, tax, restatements), and without this a source that replaces whole
    periods would never touch it again after the first run of the new month."""
    days = lookback_days(source)
    start = window.start - timedelta(days=days) if days else window.start
    month_start = window.start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if window.start < month_start + timedelta(days=close_days(source)):
        start = min(start, (month_start - timedelta(days=1)).replace(day=1))
    return window if start == window.start else Window(start, window.end)
