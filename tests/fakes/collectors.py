"""Collectors that feed the loader bad input (shared by the loader and run-log tests)."""

from collections.abc import Iterator

from collectors.base import Collector, Dataset, Reject, Window
from collectors.demo import COST_LINE_ITEMS, DemoCollector


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
