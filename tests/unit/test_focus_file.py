"""The FOCUS reader without a database: typing, validation, rejects, 1.3 renames, extensions, streaming, options."""

import csv
import gzip
import io
import json
import logging
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from collectors.core.base import CollectorError, Reject, Window
from collectors.core.file_access import parse_location
from collectors.core.focus_schema import (
    FOCUS_COST_LINE_ITEMS,
    FocusReader,
    billing_periods,
    check_focus_rules,
    detect_version,
    file_format,
    parse_datetime,
    parse_decimal,
)
from collectors.sources.aws_data_export import DataExportCollector
from collectors.sources.focus_file import FocusFileCollector
from tests.conftest import SHARED_DATA

SAMPLES = {p: SHARED_DATA / "focus-1.2" / f"focus_1_2_cost_and_usage_{p}.csv" for p in ("aws", "azure", "gcp")}
COLUMNS = FOCUS_COST_LINE_ITEMS.column_names
MAY = Window.from_dates(date(2026, 5, 1), date(2026, 6, 1))


def sample_rows(provider: str = "aws", n: int | None = None) -> tuple[list[str], list[list[str]]]:
    """The sample's header and first ``n`` records as lists of cells."""
    with SAMPLES[provider].open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows[:n]


def to_csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    return out.getvalue().encode()


def read(data: bytes, name: str = "test.csv", **kwargs) -> tuple[list, FocusReader]:
    reader = FocusReader(name, **kwargs)
    return list(reader.read_csv(io.BytesIO(data))), reader


def as_dict(record: tuple) -> dict:
    return dict(zip(COLUMNS, record, strict=True))


def test_values_are_typed_decimal_utc_and_json_text():
    assert parse_decimal("-12.5E-3") == Decimal("-0.0125")
    assert parse_decimal(3) == Decimal(3) and parse_decimal(0.1) == Decimal("0.1")  # float via its shortest repr
    for bad in ("1,5", "abc", "NaN", "Infinity", True):
        with pytest.raises(ValueError):
            parse_decimal(bad)
    assert parse_datetime("2026-05-01T00:00:00Z") == datetime(2026, 5, 1, tzinfo=UTC)
    assert parse_datetime("2026-05-01T02:30:00+02:00") == datetime(2026, 5, 1, 0, 30, tzinfo=UTC)
    assert parse_datetime(datetime(2026, 5, 1)) == datetime(2026, 5, 1, tzinfo=UTC)  # Parquet without a zone
    for bad in ("2026-05-01T00:00:00", "2026-05-01", "01/05/2026", "yesterday"):
        with pytest.raises(ValueError):
            parse_datetime(bad)


def test_sample_record_lands_in_raw_columns():
    records, reader = read(SAMPLES["aws"].read_bytes(), "aws.csv")
    assert reader.stats.records == 1000 and all(isinstance(r, tuple) for r in records)
    first = as_dict(records[0])
    assert first["provider_name"] == "AWS" and first["focus_version"] == "1.2"
    assert first["billing_period_start"] == datetime(2026, 5, 1, tzinfo=UTC)
    assert first["billed_cost"] == Decimal("32.016000") and first["effective_cost"] == Decimal(0)
    assert json.loads(first["tags"]) == {"Environment": "prod", "CostCenter": "cc-1042", "Owner": "team-payments"}
    assert json.loads(first["sku_price_details"]) == {"x_PurchaseTerm": "1yr", "x_PaymentOption": "NoUpfront"}
    assert (first["source_file"], first["source_line"], first["x_extensions"]) == ("aws.csv", 2, None)


def test_version_detection():
    header, _ = sample_rows(n=0)
    assert detect_version(header) == "1.2"
    assert detect_version([*header, "ServiceProviderName", "HostProviderName"]) == "1.3"
    assert detect_version([h for h in header if h not in ("BillingAccountType", "SubAccountType", "InvoiceId")
                           and not h.startswith("PricingCurrency")]) == "1.1"
    assert detect_version(["BilledCost", "ProviderName"]) == "1.0"


def test_missing_mandatory_column_names_file_column_and_version():
    header, rows = sample_rows(n=2)
    drop = header.index("BilledCost")
    data = to_csv(header[:drop] + header[drop + 1:], [r[:drop] + r[drop + 1:] for r in rows])
    with pytest.raises(CollectorError) as err:
        read(data, "s3://bucket/no-billed-cost.csv")
    assert "s3://bucket/no-billed-cost.csv" in str(err.value)
    assert "['BilledCost']" in str(err.value) and "FOCUS 1.2" in str(err.value)
    # Forcing 1.3 on a 1.2 file: the 1.3 provider columns are mandatory then.
    with pytest.raises(CollectorError, match=r"HostProviderName.*ServiceProviderName.*set by options.focus_version"):
        read(to_csv(header, rows), focus_version="1.3")


def test_bad_values_give_one_reject_naming_line_and_column():
    header, rows = sample_rows()
    rows[4][header.index("BilledCost")] = "12.3.4"  # the record on line 6
    rows[6][header.index("ChargePeriodStart")] = "2026-05-03 00:00"  # no UTC offset
    rows[8][header.index("BillingCurrency")] = ""  # a required value missing
    rows[10].append("extra")  # one field too many
    records, reader = read(to_csv(header, rows), "bad.csv")
    rejects = [r for r in records if isinstance(r, Reject)]
    assert [(r.record_ref, r.field) for r in rejects] == [
        ("bad.csv:6", "BilledCost"), ("bad.csv:8", "ChargePeriodStart"), ("bad.csv:10", "BillingCurrency"),
        ("bad.csv:12", "(record)")]
    assert "'12.3.4'" in rejects[0].reason and "12.3.4" in rejects[0].raw_text
    assert "UTC offset" in rejects[1].reason
    assert reader.stats.records == 996 and reader.stats.rejects == 4


def test_tags_must_be_a_json_object():
    header, rows = sample_rows(n=3)
    rows[0][header.index("Tags")] = '["a", "b"]'
    rows[1][header.index("Tags")] = "{not json"
    rows[2][header.index("Tags")] = '{"a": NaN}'  # Python's json accepts it, PostgreSQL jsonb does not
    records, _ = read(to_csv(header, rows), "tags.csv")
    assert [(r.record_ref, r.field) for r in records if isinstance(r, Reject)] == [
        ("tags.csv:2", "Tags"), ("tags.csv:3", "Tags"), ("tags.csv:4", "Tags")]
    assert "expected a JSON object" in records[0].reason and "not valid JSON" in records[1].reason
    assert "NaN is not a JSON number" in records[2].reason


def test_quoted_newlines_keep_line_numbers():
    header, rows = sample_rows(n=3)
    rows[0][header.index("ChargeDescription")] = "two\nlines"
    records, _ = read(to_csv(header, rows), "nl.csv")
    assert as_dict(records[0])["charge_description"] == "two\nlines"
    assert [as_dict(r)["source_line"] for r in records] == [2, 4, 5]


def test_extension_and_unknown_columns_go_to_x_extensions_reported_once(caplog):
    header, rows = sample_rows(n=3)
    data = to_csv([*header, "x_CostAllocationRule", "LegacyColumn"],
                  [[*row, f"rule-{i}", '{"a": 1.50}'] for i, row in enumerate(rows)])
    with caplog.at_level(logging.WARNING, logger="collectors.core.focus_schema"):
        records, _ = read(data, "ext.csv")
    assert [json.loads(as_dict(r)["x_extensions"]) for r in records][0] == {
        "x_CostAllocationRule": "rule-0", "LegacyColumn": '{"a": 1.50}'}
    warnings = [r.getMessage() for r in caplog.records if "LegacyColumn" in r.getMessage()]
    assert len(warnings) == 1 and "ext.csv" in warnings[0] and "x_CostAllocationRule" not in warnings[0]


def test_focus_1_3_service_provider_fills_provider_and_publisher():
    header, rows = sample_rows(n=3)
    keep = [i for i, h in enumerate(header) if h not in ("ProviderName", "PublisherName")]
    extra = (["ServiceProviderName", "HostProviderName", "AllocatedMethodId"], ["AWS", "", "even-split"],
             ["Example SaaS", "AWS", ""], ["", "AWS", ""])
    data = to_csv([header[i] for i in keep] + extra[0],
                  [[row[i] for i in keep] + more for row, more in zip(rows, extra[1:], strict=True)])
    records, _ = read(data, "v13.csv")
    assert (records[2].record_ref, records[2].field) == ("v13.csv:4", "ServiceProviderName")  # empty provider
    rows = [as_dict(r) for r in records[:2]]
    assert [(r["provider_name"], r["publisher_name"], r["host_provider_name"], r["focus_version"]) for r in rows] == [
        ("AWS", "AWS", None, "1.3"), ("Example SaaS", "Example SaaS", "AWS", "1.3")]
    assert json.loads(rows[0]["x_extensions"]) == {"AllocatedMethodId": "even-split"}


def test_window_keeps_only_its_billing_periods():
    header, rows = sample_rows()
    june = [[c.replace("2026-06-01T", "2026-07-01T").replace("2026-05-", "2026-06-") for c in r] for r in rows[:10]]
    records, reader = read(to_csv(header, rows + june), window=MAY)
    assert reader.stats.records == 1000 and reader.stats.outside_window == 10
    assert {as_dict(r)["billing_period_start"] for r in records} == {datetime(2026, 5, 1, tzinfo=UTC)}


class CountingStream(io.RawIOBase):
    """A byte stream that counts what the reader pulled from it."""

    def __init__(self, data: bytes) -> None:
        self.source = io.BytesIO(data)
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.source.readinto(buffer)
        self.bytes_read += n
        return n


@pytest.mark.parametrize("compress", [False, True], ids=["csv", "csv.gz"])
def test_first_record_arrives_before_the_stream_is_read(compress):
    body = b"".join(SAMPLES["azure"].read_bytes() for _ in range(10))  # ~11 MB of CSV, ~0.8 MB gzipped
    data = gzip.compress(body) if compress else body
    stream = CountingStream(data)
    records = FocusReader("big.csv").read_csv(io.BufferedReader(stream, buffer_size=16 * 1024))
    first = next(records)
    assert isinstance(first, tuple)
    assert stream.bytes_read < len(data) / 10, (stream.bytes_read, len(data))


def test_rule_checks_flag_broken_records_and_pass_the_samples():
    for path in SAMPLES.values():
        records, _ = read(path.read_bytes(), path.name)
        assert {rule: n for rule, (n, _) in check_focus_rules(records).items() if n} == {}
    header, rows = sample_rows(n=2)
    rows[0][header.index("EffectiveCost")] = "5"  # a commitment purchase
    rows[1][header.index("ChargeCategory")] = "Refund"
    records, _ = read(to_csv(header, rows), "broken.csv")
    found = {rule: hit for rule, hit in check_focus_rules(records).items() if hit[0]}
    assert found == {
        "EffectiveCost = 0 on commitment purchases (Purchase with a CommitmentDiscountId)": (1, "broken.csv:2"),
        "ChargeCategory in {Usage, Purchase, Tax, Credit, Adjustment}": (1, "broken.csv:3")}


def test_options_are_validated_with_their_key():
    with pytest.raises(ValueError, match="options.paths"):
        FocusFileCollector("f", {})
    with pytest.raises(ValueError, match="options.format"):
        FocusFileCollector("f", {"paths": ["a.csv"], "format": "xlsx"})
    with pytest.raises(ValueError, match="options.focus_version"):
        FocusFileCollector("f", {"paths": ["a.csv"], "focus_version": "2.0"})
    with pytest.raises(ValueError, match="options.export_name"):
        DataExportCollector("e", {"bucket": "b"})
    with pytest.raises(ValueError, match="options.format"):
        DataExportCollector("e", {"bucket": "b", "export_name": "x", "format": "cur"})
    cur2 = DataExportCollector("e", {"bucket": "b", "export_name": "x", "format": "cur2"})
    assert [d.table for d in cur2.datasets()] == ["aws_data_export_cur2_line_items"]
    with pytest.raises(ValueError, match="format cur2 loads cur2_line_items, not focus_cost_line_items"):
        next(cur2.collect(FOCUS_COST_LINE_ITEMS, MAY))
    with pytest.raises(CollectorError, match="options.format"):
        file_format("s3://b/export.json")
    assert file_format("x/part-00001.snappy.parquet") == "parquet" and file_format("a.CSV.GZ") == "csv"


def test_windows_align_to_billing_periods_and_locations_parse():
    collector = FocusFileCollector("f", {"paths": ["a.csv"]})
    window = Window(datetime(2026, 5, 31, 22, tzinfo=UTC), datetime(2026, 6, 1, 2, tzinfo=UTC))
    assert collector.align_window(window) == Window.from_dates(date(2026, 5, 1), date(2026, 7, 1))
    assert list(billing_periods(Window.from_dates(date(2025, 12, 31), date(2026, 2, 2)))) == [
        "2025-12", "2026-01", "2026-02"]
    abfss = parse_location("abfss://exports@acct.dfs.core.windows.net/focus/2026/*.parquet")
    assert (abfss.scheme, abfss.container, abfss.key, abfss.account) == ("az", "exports", "focus/2026/*.parquet",
                                                                          "acct")
    assert parse_location("gs://b/k/x.csv").child("k/y.csv").text == "gs://b/k/y.csv"
    with pytest.raises(ValueError, match="unsupported scheme"):
        parse_location("ftp://host/x.csv")


def test_missing_local_files_are_errors_naming_the_path(tmp_path):
    missing = FocusFileCollector("local", {"paths": [str(tmp_path / "nope.csv")]})
    with pytest.raises(CollectorError, match=r"source local: cannot open .*nope.csv: No such file"):
        list(missing.collect(FOCUS_COST_LINE_ITEMS, MAY))
    unmatched = FocusFileCollector("local", {"paths": [str(tmp_path / "*.csv.gz")]})
    with pytest.raises(CollectorError, match=r"options.paths entry .*\*.csv.gz' matched no file"):
        list(unmatched.collect(FOCUS_COST_LINE_ITEMS, MAY))


def test_parquet_maps_naive_timestamps_and_doubles():
    """Parquet as some exports type it: map<string, string> tags and extensions, timestamps without a zone (UTC by
    FOCUS), doubles for money (taken by their shortest decimal text)."""
    header, rows = sample_rows(n=2)
    columns = {name: [row[i] or None for row in rows] for i, name in enumerate(header)}
    arrays = {name: pa.array(values, pa.string()) for name, values in columns.items()}
    for name in ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"):
        arrays[name] = pa.array([datetime.fromisoformat(v[:-1]) for v in columns[name]], pa.timestamp("us"))
    for name in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
        arrays[name] = pa.array([float(v) for v in columns[name]], pa.float64())
    tags = [list(json.loads(v).items()) for v in columns["Tags"]]
    arrays["Tags"] = pa.array([[(k, str(v)) for k, v in t] for t in tags], pa.map_(pa.string(), pa.string()))
    arrays["x_CostCategories"] = pa.array([[("team", "payments")], []], pa.map_(pa.string(), pa.string()))
    buffer = io.BytesIO()
    pq.write_table(pa.table(arrays), buffer)
    buffer.seek(0)
    records = [as_dict(r) for r in FocusReader("p.parquet").read_parquet(buffer)]
    assert [r["source_line"] for r in records] == [1, 2]
    assert records[0]["billing_period_start"] == datetime(2026, 5, 1, tzinfo=UTC)
    assert records[1]["effective_cost"] == Decimal(columns["EffectiveCost"][1]).normalize()
    assert json.loads(records[0]["tags"]) == {"Environment": "prod", "CostCenter": "cc-1042", "Owner": "team-payments"}
    assert json.loads(records[0]["x_extensions"]) == {"x_CostCategories": {"team": "payments"}}
    assert records[1]["x_extensions"] is None  # an empty map is no value


def test_hostile_bytes_are_rejects_naming_line_and_field_and_the_rest_loads():
    """A NUL in a cell and a byte that is not UTF-8: one reject each (file:line and field, the raw text readable),
    the other records load; before, the NUL aborted the COPY and the bad byte the whole file."""
    header, rows = sample_rows(n=10)
    rows[2][header.index("ChargeDescription")] = "nul\x00inside"  # line 4
    rows[5][header.index("ChargeDescription")] = "MARK"  # line 7
    data = to_csv(header, rows).replace(b"MARK", b"Box\xffUsage")
    records, reader = read(data, "hostile.csv")
    rejects = [r for r in records if isinstance(r, Reject)]
    assert [(r.record_ref, r.field, r.reason) for r in rejects] == [
        ("hostile.csv:4", "ChargeDescription", "holds a NUL character"),
        ("hostile.csv:7", "ChargeDescription", "holds bytes that are not UTF-8")]
    assert all("\x00" not in r.raw_text and r.raw_text.encode("utf-8") for r in rejects)
    assert any("nul\\x00inside" in r.raw_text for r in rejects) and any("Box\\xffUsage" in r.raw_text for r in rejects)
    assert reader.stats.records == 8


@pytest.mark.parametrize("cut", ["mid-value", "open quote"])
def test_a_truncated_file_rejects_its_last_record(cut):
    """A plain CSV cut off in the middle of its last record - inside a plain value (no line end), or inside a quoted
    field - must not load that record silently: it is a reject saying the file looks truncated."""
    header, rows = sample_rows(n=5)
    # a plain text column last (the reader maps columns by name): a cut there still gives the right field count
    order = [i for i, h in enumerate(header) if h != "ChargeDescription"] + [header.index("ChargeDescription")]
    header, rows = [header[i] for i in order], [[row[i] for i in order] for row in rows]
    if cut == "mid-value":
        rows[-1][-1] = "Amazon Elastic Compute Cloud running Linux"
        data = to_csv(header, rows)
        data = data[:data.index(b"Compute Cloud")]  # no line end after it
    else:
        rows[-1][-1] = "a quoted, multi\nline description"
        data = to_csv(header, rows)
        data = data[:data.index(b"multi\n") + 6]  # cut after the line break inside the quotes
    records, reader = read(data, "cut.csv")
    rejects = [r for r in records if isinstance(r, Reject)]
    assert [(r.record_ref, r.field) for r in rejects] == [("cut.csv:6", "(record)")]
    assert "looks truncated" in rejects[0].reason
    assert reader.stats.records == 4


def test_an_empty_line_between_records_is_a_reject_and_trailing_ones_are_nothing():
    header, rows = sample_rows(n=3)
    data = to_csv(header, rows)
    lines = data.split(b"\n")
    data = b"\n".join([lines[0], lines[1], b"", lines[2], lines[3]]) + b"\n\n\n"  # an empty line 3; two at the end
    records, reader = read(data, "gap.csv")
    rejects = [r for r in records if isinstance(r, Reject)]
    assert [(r.record_ref, r.reason) for r in rejects] == [("gap.csv:3", "an empty line between records")]
    assert reader.stats.records == 3
