"""Collectors that feed the loader bad input (shared by the loader and run-log tests)."""

from collections.abc import Iterator

from collectors.core.base import Collector, Dataset, Reject, Window
from collectors.sources.demo import COST_LINE_ITEMS, DemoCollector


class BadRecords(Collector):
    """Yields good demo rows plus ``n_bad`` records of the kinds of bad input a collector meets, in turn: a value
    that does not parse, a truncated record, a NULL in a required column. Each becomes one reject."""

    type = "bad"

    def __init__(self, n_bad: int) -> None:
        super().__init__("bad-source")
        self.n_bad = n_bad
        self.demo = DemoCollector("bad-source", {"datasets": ["cost_line_items"], "providers": ["azure"]})

    def datasets(self) -> tuple[Dataset, ...]:
        return (COST_LINE_ITEMS,)

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        good = list(self.demo.collect(dataset, window))
        yield from good
        for i in range(self.n_bad):
            kind = i % 3
            if kind == 0:
                yield Reject(dataset.name, f"line {i + 2}", "BilledCost", "not a number: 'abc'", "x,y,abc,z")
            elif kind == 1:
                yield good[0][:5]  # truncated record
            else:
                broken = list(good[0])
                broken[COST_LINE_ITEMS.column_names.index("billed_cost")] = None
                yield tuple(broken)


class PausingCollector(Collector):
    """Demo rows of one source; after ``pause_after`` rows it sets ``paused`` and waits for ``resume`` (up to 60 s):
    a load caught in the middle of its COPY, for concurrency tests."""

    type = "pausing"

    def __init__(self, source_id: str, pause_after: int | None = None) -> None:
        import threading

        super().__init__(source_id)
        self.pause_after = pause_after
        self.paused = threading.Event()
        self.resume = threading.Event()
        self.demo = DemoCollector(source_id, {"datasets": ["cost_line_items"], "providers": ["aws"]})

    def datasets(self) -> tuple[Dataset, ...]:
        return (COST_LINE_ITEMS,)

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        for n, record in enumerate(self.demo.collect(dataset, window)):
            if n == self.pause_after:
                self.paused.set()
                if not self.resume.wait(60):
                    raise TimeoutError("PausingCollector was never resumed")
            yield record


class AllBad(Collector):
    """Yields ``n`` rejects of ``size`` bytes each, lazily, and counts how many were pulled: a huge file in which
    every row is bad (memory and early-stop tests)."""

    type = "all-bad"

    def __init__(self, n: int, size: int = 1000) -> None:
        super().__init__("all-bad-source")
        self.n, self.size, self.pulled = n, size, 0

    def datasets(self) -> tuple[Dataset, ...]:
        return (COST_LINE_ITEMS,)

    def collect(self, dataset: Dataset, window: Window) -> Iterator[tuple | Reject]:
        for i in range(self.n):
            self.pulled += 1
            yield Reject(dataset.name, f"huge.csv:{i + 2}", "BilledCost", "not a number", f"{i:08d}" * (self.size // 8))
