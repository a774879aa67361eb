"""Property-based fuzzing of FOCUS CSV input (hypothesis): random mutations of a valid file - a cut line, a value of
the wrong type, a bad date, bad JSON, a NUL, bytes that are not UTF-8, a huge field - never raise an unhandled
exception; every mutated row is either read unchanged or a reject naming its file:line, and every untouched row is
read exactly as from the original file. Derandomized (the same examples on every run) and without an example
database, so CI sees the same test every time."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.core.base import Reject
from collectors.core.focus_schema import FOCUS_COST_LINE_ITEMS, FocusReader
from tests.conftest import SHARED_DATA

SAMPLE = SHARED_DATA / "focus-1.2" / "focus_1_2_cost_and_usage_aws.csv"
ROWS = 12
LINE = FOCUS_COST_LINE_ITEMS.column_names.index("source_line")


def original() -> tuple[list[str], list[list[str]]]:
    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows[:ROWS]


HEADER, ROWS_TEXT = original()


def encode(header: list[str], rows: list[list[str]]) -> list[bytes]:
    """One byte string per physical line (these rows hold no line breaks), each with its line end."""
    out = []
    for row in [header, *rows]:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow(row)
        out.append(text.getvalue().encode())
    return out


def read(data: bytes) -> dict[int, tuple | Reject]:
    """line -> record or reject (records carry their start line; rejects name file:line)."""
    out: dict[int, tuple | Reject] = {}
    for item in FocusReader("fuzz.csv").read_csv(io.BytesIO(data)):
        line = int(item.record_ref.rsplit(":", 1)[1]) if isinstance(item, Reject) else item[LINE]
        assert line not in out, f"line {line} read twice"
        out[line] = item
    return out


BASELINE = read(b"".join(encode(HEADER, ROWS_TEXT)))
COLUMN = {name: i for i, name in enumerate(HEADER)}


def mutate(lines: list[bytes], row: int, kind: str, column: str, data: st.DataObject) -> list[bytes]:
    """Apply one mutation to data row ``row`` (0-based; physical line row + 2)."""
    target = lines[row + 1]
    if kind == "cut":  # the line cut short inside its first ten (plain) fields, its line end kept
        tenth = [i for i, c in enumerate(target) if c == ord(",")][9]
        keep = data.draw(st.integers(1, tenth), label="keep")
        lines[row + 1] = target[:keep] + b"\n"
        return lines
    cells = next(csv.reader([target.decode("utf-8")]))
    i = COLUMN[column]
    value = {"type": "not-a-number", "date": "2026-13-45T25:61:00Z", "json": "{broken",
             "huge": "x" * 200_000}.get(kind, cells[i])
    if kind == "nul":
        value = cells[i][:1] + "\x00" + cells[i][1:]
    if kind == "bytes":  # bytes that are not UTF-8, inside the cell
        value = "BADBYTESMARK" + cells[i]
    cells[i] = value
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerow(cells)
    lines[row + 1] = text.getvalue().encode().replace(b"BADBYTESMARK", b"\xff\xfe")
    return lines


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(st.tuples(st.integers(0, ROWS - 1),
                                    st.sampled_from(["cut", "type", "date", "json", "nul", "bytes", "huge"]),
                                    st.sampled_from(["BilledCost", "EffectiveCost", "ChargePeriodStart", "Tags",
                                                     "ServiceName", "ChargeDescription", "BillingCurrency"])),
                          min_size=1, max_size=4, unique_by=lambda m: m[0]),
       data=st.data())
def test_mutated_rows_are_read_unchanged_or_rejected_and_the_rest_is_untouched(mutations, data):
    lines = encode(HEADER, ROWS_TEXT)
    plan = {}
    for row, kind, column in mutations:
        column = {"date": "ChargePeriodStart", "json": "Tags", "cut": "(record)"}.get(kind, column)
        if kind == "type":
            column = data.draw(st.sampled_from(["BilledCost", "EffectiveCost"]), label="numeric column")
        if kind == "huge":
            column = data.draw(st.sampled_from(["ServiceName", "ChargeDescription"]), label="text column")
        lines = mutate(lines, row, kind, column, data)
        plan[row + 2] = (kind, column)
    got = read(b"".join(lines))  # never an unhandled exception
    assert set(got) == set(range(2, ROWS + 2)), "a line vanished or appeared"
    for line, item in got.items():
        if line not in plan:
            assert item == BASELINE[line], f"untouched line {line} changed"
            continue
        kind, column = plan[line]
        if kind == "huge":  # a long text is valid: read unchanged, every character of it
            assert not isinstance(item, Reject), item
            assert item[FOCUS_COST_LINE_ITEMS.column_names.index(
                {"ServiceName": "service_name", "ChargeDescription": "charge_description"}[column])] == "x" * 200_000
            continue
        assert isinstance(item, Reject), f"line {line} ({kind} in {column}) was read: {str(item)[:300]}"
        assert item.record_ref == f"fuzz.csv:{line}" and item.field == column and item.reason
        assert "\x00" not in item.raw_text
        item.raw_text.encode("utf-8")  # storable as PostgreSQL text
