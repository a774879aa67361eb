"""The collector contract.

A collector takes its options and (injected) clients, and for one window streams records for each of its datasets.
It never reads the wall clock: the window comes from the caller (an Airflow data interval or the CLI).
Records are tuples in the dataset's column order (cheap to stream, COPY-ready); a record that cannot be parsed is
yielded as a :class:`Reject`, which the loader keeps in ``raw._rejects``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar


@dataclass(frozen=True)
class Window:
    """A half-open UTC interval [start, end)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value.tzinfo is None:
                raise ValueError(f"window {name} must be timezone-aware (UTC), got {value!r}")
        if self.end <= self.start:
            raise ValueError(f"window end {self.end.isoformat()} must be after start {self.start.isoformat()}")

    @classmethod
    def from_dates(cls, start: date, end: date) -> Window:
        return cls(datetime.combine(start, time(), UTC), datetime.combine(end, time(), UTC))

    def days(self) -> Iterator[date]:
        """Each UTC date that has at least one instant in the window."""
        day = self.start.date()
        while datetime.combine(day, time(), UTC) < self.end:
            yield day
            day += timedelta(days=1)

    def months(self) -> Window:
        """The smallest window of whole UTC calendar months (billing periods) that contains this one."""
        start = datetime(self.start.year, self.start.month, 1, tzinfo=UTC)
        last = self.end - timedelta(microseconds=1)
        end = datetime(last.year + last.month // 12, last.month % 12 + 1, 1, tzinfo=UTC)
        return Window(start, end)

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str
    nullable: bool = True


@dataclass(frozen=True)
class Dataset:
    """One raw table: its columns (records are tuples in this order) and the time column that places a record in a
    window. The loader replaces a (source, window) slice by deleting rows whose ``time_column`` lies in the window."""

    name: str
    table: str
    columns: tuple[Column, ...]
    time_column: str

    def __post_init__(self) -> None:
        if self.time_column not in self.column_names:
            raise ValueError(f"dataset {self.name}: time column {self.time_column!r} is not a column")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[int, ...]:
        """Positions of NOT NULL columns."""
        return tuple(i for i, c in enumerate(self.columns) if not c.nullable)

    def row(self, **values: Any) -> tuple:
        """Build a record tuple from keyword values (missing nullable columns become None)."""
        unknown = set(values) - set(self.column_names)
        if unknown:
            raise KeyError(f"dataset {self.name}: unknown columns {sorted(unknown)}")
        return tuple(values.get(name) for name in self.column_names)


@dataclass(frozen=True)
class Reject:
    """A record that could not be parsed. ``record_ref`` says which record (line number, id, page/offset); ``at``
    is the record's time (its dataset's time column) when it could be read: a later load whose window holds that
    time replaces the reject, as it replaces the rows."""

    dataset: str
    record_ref: str
    field: str
    reason: str
    raw_text: str
    at: datetime | None = None


class CollectorError(RuntimeError):
    """A failure that stops the whole collection (bad credentials, API error after retries, ...)."""


class Collector(ABC):
    """Base class. Subclasses set ``type`` and implement :meth:`datasets` and :meth:`collect`."""

    type: ClassVar[str]
    #: Days re-pulled before each window unless the source's config sets ``lookback_days`` (restated bills).
    default_lookback_days: ClassVar[int] = 0
    #: Days into a new month during which the previous billing period is re-pulled too, unless the source's config
    #: sets ``close_days`` (bills close a few days after the month: late usage, credits, tax, restatements).
    default_close_days: ClassVar[int] = 0

    def __init__(self, source_id: str, options: Mapping[str, Any] | None = None,
                 clients: Mapping[str, Any] | None = None, context: Mapping[str, Any] | None = None) -> None:
        """``options``: this source's config entry options. ``clients``: vendor SDK clients, injected so tests can
        point them at a fake endpoint. ``context``: shared config the source may need (e.g. ``clusters``)."""
        self.source_id = source_id
        self.options = dict(options or {})
        self.clients = dict(clients or {})
        self.context = dict(context or {})

    @property
    def connection_id(self) -> str | None:
        """The Airflow connection id configured for this source (credentials are resolved through it, by the
        provider's hook, only when no client was injected)."""
        return self.context.get("connection_id")

    def align_window(self, window: Window) -> Window:
        """The window this source actually replaces for a requested window. Default: the window itself. Sources
        that deliver whole billing periods (exports, restated invoice months) widen it to those periods, so a
        daily run replaces every period it touches and nothing is left half-loaded."""
        return window

    def undelivered(self, window: Window) -> list[tuple[Window, str]]:
        """The parts of ``window`` the source has not delivered (yet), each with what is missing (the manifest or
        export run it looked for). The loader checks them before it replaces anything: a part that already has
        rows in raw fails the load naming what is missing (a wrong prefix or export name, or a deleted delivery,
        must not replace a month with nothing); a part with no rows is simply not loaded yet. Default: none (the
        source answers for the whole window, and an empty answer means no cost)."""
        return []

    @abstractmethod
    def datasets(self) -> tuple[Dataset, ...]:
        """The datasets this source instance produces (may depend on its options)."""

    @abstractmethod
    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        """Stream the records of ``dataset`` whose time column lies in ``window``."""
