"""FOCUS Cost and Usage: the column specification and a streaming reader shared by every FOCUS source.

FOCUS (FinOps Open Cost and Usage Specification) files are CSV (RFC 4180, header row, often gzipped) or Parquet.
What this module relies on from the specification (1.0 2024-06, 1.1 2024-11, 1.2 2025-05, 1.3 2025-12; column
versions and feature levels as recorded in the FOCUS model shipped with focus-data-toolkit 0.14.1):
- column data types: Decimal, Date/Time, String, JSON (Tags, SkuPriceDetails, AllocatedTags, ... are JSON objects);
- Date/Time values are UTC in extended ISO 8601 (``2026-05-01T00:00:00Z``); we accept any explicit UTC offset and
  convert to UTC, and reject a CSV value without one (a Parquet timestamp column without a time zone is read as UTC);
- 1.0-1.2 mandatory columns are the same 21 (see :data:`MANDATORY_BEFORE_1_3`); 1.2 added BillingAccountType,
  SubAccountType, InvoiceId and the PricingCurrency* columns, 1.1 added CapacityReservation*, CommitmentDiscount
  Quantity/Unit, ServiceSubcategory, SkuMeter and SkuPriceDetails;
- 1.3 replaces ProviderName / PublisherName (deprecated) by ServiceProviderName / HostProviderName (both mandatory)
  and adds ContractApplied and the Allocated* columns;
- columns whose name starts with ``x_`` are provider extensions and legal anywhere.

Every file lands in one raw table, ``raw.focus_cost_line_items`` (:data:`FOCUS_COST_LINE_ITEMS`): the FOCUS 1.2
columns in snake_case, ``host_provider_name``, and ``x_extensions`` (a jsonb object holding every column of the file
that has no column of its own: ``x_`` extensions, 1.3-only columns, unknown columns), ``focus_version``,
``source_file`` and ``source_line`` (the CSV line where the record starts, or the 1-based Parquet row number).

The reader streams (:mod:`collectors.core.record_file`): CSV one record at a time through ``csv.reader`` over the
(gunzipped) byte stream, Parquet one record batch at a time (``ParquetFile.iter_batches``); nothing holds a whole
file.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from collectors.core.base import Collector, CollectorError, Column, Dataset, Reject, Window
from collectors.core.record_file import ReadStats, RecordFileReader, read_location  # noqa: F401 - ReadStats re-exported

if TYPE_CHECKING:
    from collectors.core.file_access import FileAccess

log = logging.getLogger(__name__)

FOCUS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
DECIMAL, DATETIME, STRING, JSON = "decimal", "datetime", "string", "json"


@dataclass(frozen=True)
class FocusColumn:
    """One FOCUS Cost and Usage column: its name, data type and the version that introduced it."""

    name: str
    kind: str
    introduced: str

    @property
    def snake(self) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.name).lower()


def _cols(introduced: str, kind: str, *names: str) -> tuple[FocusColumn, ...]:
    return tuple(FocusColumn(n, kind, introduced) for n in names)


# The 57 FOCUS 1.2 Cost and Usage columns in specification order (the order of the raw table).
FOCUS_1_2_COLUMNS: tuple[FocusColumn, ...] = (
    *_cols("1.0", STRING, "ProviderName", "PublisherName", "InvoiceIssuerName"),
    *_cols("1.2", STRING, "InvoiceId"),
    *_cols("1.0", STRING, "BillingAccountId", "BillingAccountName"),
    *_cols("1.2", STRING, "BillingAccountType"),
    *_cols("1.0", STRING, "SubAccountId", "SubAccountName"),
    *_cols("1.2", STRING, "SubAccountType"),
    *_cols("1.0", DATETIME, "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"),
    *_cols("1.0", STRING, "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency"),
    *_cols("1.0", DECIMAL, "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ListUnitPrice",
           "ContractedUnitPrice"),
    *_cols("1.0", STRING, "PricingCategory"),
    *_cols("1.0", DECIMAL, "PricingQuantity"),
    *_cols("1.0", STRING, "PricingUnit"),
    *_cols("1.2", STRING, "PricingCurrency"),
    *_cols("1.2", DECIMAL, "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost",
           "PricingCurrencyListUnitPrice"),
    *_cols("1.0", STRING, "BillingCurrency"),
    *_cols("1.0", DECIMAL, "ConsumedQuantity"),
    *_cols("1.0", STRING, "ConsumedUnit", "ServiceName", "ServiceCategory"),
    *_cols("1.1", STRING, "ServiceSubcategory"),
    *_cols("1.0", STRING, "SkuId"),
    *_cols("1.1", STRING, "SkuMeter"),
    *_cols("1.0", STRING, "SkuPriceId"),
    *_cols("1.1", JSON, "SkuPriceDetails"),
    *_cols("1.0", STRING, "ResourceId", "ResourceName", "ResourceType", "RegionId", "RegionName", "AvailabilityZone",
           "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountCategory", "CommitmentDiscountType",
           "CommitmentDiscountStatus"),
    *_cols("1.1", DECIMAL, "CommitmentDiscountQuantity"),
    *_cols("1.1", STRING, "CommitmentDiscountUnit", "CapacityReservationId", "CapacityReservationStatus"),
    *_cols("1.0", JSON, "Tags"),
)

# FOCUS 1.3 additions. Only HostProviderName gets a raw column; ServiceProviderName fills provider_name (and
# publisher_name) when the deprecated columns are absent; the others are kept in x_extensions.
FOCUS_1_3_COLUMNS: tuple[FocusColumn, ...] = (
    *_cols("1.3", STRING, "ServiceProviderName", "HostProviderName"),
    *_cols("1.3", JSON, "ContractApplied"),
    *_cols("1.3", STRING, "AllocatedMethodId"),
    *_cols("1.3", JSON, "AllocatedMethodDetails"),
    *_cols("1.3", STRING, "AllocatedResourceId", "AllocatedResourceName"),
    *_cols("1.3", JSON, "AllocatedTags"),
)

ALL_COLUMNS: dict[str, FocusColumn] = {c.name: c for c in (*FOCUS_1_2_COLUMNS, *FOCUS_1_3_COLUMNS)}

MANDATORY_BEFORE_1_3 = frozenset({
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodStart",
    "BillingPeriodEnd", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodStart", "ChargePeriodEnd",
    "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost", "PricingQuantity", "PricingUnit",
    "ProviderName", "PublisherName", "ServiceCategory", "ServiceName",
})
MANDATORY: dict[str, frozenset[str]] = {
    "1.0": MANDATORY_BEFORE_1_3,
    "1.1": MANDATORY_BEFORE_1_3,
    "1.2": MANDATORY_BEFORE_1_3,
    "1.3": (MANDATORY_BEFORE_1_3 - {"ProviderName", "PublisherName"}) | {"ServiceProviderName", "HostProviderName"},
}

# Columns whose FOCUS definition forbids nulls and that the cost models cannot do without; a record with an empty
# value there is rejected (naming the column) rather than landed.
# Values a row cannot be loaded without. FOCUS also forbids null ListCost and ContractedCost, but a file that leaves
# them empty (e.g. our own export of Cost Explorer aggregates, which have no list price) still carries a valid
# BilledCost / EffectiveCost: such rows load with NULL there rather than being rejected with their billed money.
NOT_NULL = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory",
            "BilledCost", "EffectiveCost", "BillingCurrency", "BillingAccountId", "ProviderName")

_PG_TYPES = {DECIMAL: "numeric", DATETIME: "timestamptz", STRING: "text", JSON: "jsonb"}
_HOST = ALL_COLUMNS["HostProviderName"]


def _raw_columns() -> tuple[Column, ...]:
    cols = []
    for c in FOCUS_1_2_COLUMNS:
        cols.append(Column(c.snake, _PG_TYPES[c.kind], nullable=c.name not in NOT_NULL))
        if c.name == "PublisherName":
            cols.append(Column(_HOST.snake, "text"))
    return (*cols, Column("x_extensions", "jsonb"), Column("focus_version", "text", nullable=False),
            Column("source_file", "text", nullable=False), Column("source_line", "bigint", nullable=False))


FOCUS_COST_LINE_ITEMS = Dataset(
    name="focus_cost_line_items",
    table="focus_cost_line_items",
    time_column="billing_period_start",
    columns=_raw_columns(),
)
_POSITION = {name: i for i, name in enumerate(FOCUS_COST_LINE_ITEMS.column_names)}
_NOT_NULL_POSITIONS = tuple((name, _POSITION[ALL_COLUMNS[name].snake]) for name in NOT_NULL)
_BILLING_PERIOD_START = _POSITION["billing_period_start"]


# -- value parsing -------------------------------------------------------------------------------------------------
# Each parser takes a cell (a str from CSV, any Python value from Parquet) that is not null and returns the typed
# value, or raises ValueError with a reason that names the offending value.

def parse_decimal(value: Any) -> Decimal:
    if value.__class__ is str:  # the CSV case, first
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r}") from None
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, bool):
        raise ValueError(f"not a decimal number: {value!r}")
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # the shortest text that round-trips, not the binary expansion
    else:
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite decimal number: {value!r}")
    return number


def parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        # Parquet timestamps: FOCUS values are UTC, so a column without a time zone is read as UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
    except ValueError:
        raise ValueError(f"not an ISO-8601 date/time: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"date/time without a UTC offset (FOCUS requires UTC, e.g. 2026-05-01T00:00:00Z): {value!r}")
    return parsed.astimezone(UTC)


def parse_string(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def parse_json_object(value: Any) -> str:
    """Returns the JSON text of an object (as delivered for text input, so numbers keep their exact digits)."""
    if isinstance(value, list) and all(isinstance(p, tuple) and len(p) == 2 for p in value):
        value = dict(value)  # a Parquet map column
    if isinstance(value, dict):
        return json.dumps(value, default=str, ensure_ascii=False)
    text = str(value)
    try:
        obj = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos}): {text[:200]!r}") from None
    if "\\u0000" in text:  # valid JSON, but PostgreSQL jsonb cannot hold a NUL character
        raise ValueError(f"JSON with a \\u0000 (NUL) character: {text[:200]!r}")
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got a JSON {type(obj).__name__}: {text[:200]!r}")
    return text


def _reject_constant(name: str) -> None:
    raise ValueError(f"not valid JSON ({name} is not a JSON number)")


PARSERS: dict[str, Callable[[Any], Any]] = {
    DECIMAL: parse_decimal, DATETIME: parse_datetime, STRING: parse_string, JSON: parse_json_object}


# -- the header plan -----------------------------------------------------------------------------------------------

def detect_version(header: Iterable[str]) -> str:
    """The FOCUS version a header row belongs to: the newest version whose new columns it has. (1.0-1.2 share one
    mandatory set, so a 1.2 file without any of 1.2's conditional columns is labelled 1.1 or 1.0, harmlessly.)"""
    names = set(header)
    for version in ("1.3", "1.2", "1.1"):
        if any(ALL_COLUMNS[n].introduced == version for n in names if n in ALL_COLUMNS):
            return version
    return "1.0"


@dataclass(frozen=True)
class _Cell:
    index: int  # position in the file's row
    name: str  # column name in the file
    parse: Callable[[Any], Any] | None  # None: kept as delivered (x_ and unknown columns)
    targets: tuple[int, ...]  # raw-table positions; () = goes into x_extensions
    json_text: bool = False  # value is JSON text (embedded as-is into x_extensions)
    text: bool = False  # a FOCUS String column: a str value needs no parsing


@dataclass
class HeaderPlan:
    """How each column of one file lands in the raw table."""

    version: str
    cells: list[_Cell]
    billing_period_cell: _Cell
    not_null: tuple[tuple[str, int], ...]  # (column named in a reject, raw position) of values that must be present
    unknown: list[str] = field(default_factory=list)
    extensions: list[str] = field(default_factory=list)


def plan_header(header: list[str], label: str, focus_version: str = "auto") -> HeaderPlan:
    """Validate a header row (duplicates, mandatory columns of the version) and map it to the raw table. ``label``
    names the file in errors."""
    header = [h.strip() for h in header]
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise CollectorError(f"{label}: duplicate column(s) {duplicates} in the header")
    version = detect_version(header) if focus_version == "auto" else focus_version
    missing = sorted(MANDATORY[version] - set(header))
    if missing:
        detected = "detected from its columns" if focus_version == "auto" else "set by options.focus_version"
        raise CollectorError(f"{label}: missing mandatory FOCUS {version} column(s) {missing} "
                             f"(version {detected})")
    present = set(header)
    # FOCUS 1.3: ServiceProviderName replaces ProviderName (and PublisherName) when the deprecated columns are gone.
    renamed: dict[str, tuple[str, ...]] = {}
    if "ServiceProviderName" in present:
        renamed["ServiceProviderName"] = tuple(
            target for target, old in (("provider_name", "ProviderName"), ("publisher_name", "PublisherName"))
            if old not in present)
    cells: list[_Cell] = []
    unknown: list[str] = []
    extensions: list[str] = []
    for index, name in enumerate(header):
        column = ALL_COLUMNS.get(name)
        if column is None:
            (extensions if name.startswith("x_") else unknown).append(name)
            cells.append(_Cell(index, name, None, ()))
        elif name in renamed:
            cells.append(_Cell(index, name, PARSERS[column.kind], tuple(_POSITION[t] for t in renamed[name]),
                               text=True))
        else:
            targets = (_POSITION[column.snake],) if column.snake in _POSITION else ()
            cells.append(_Cell(index, name, PARSERS[column.kind], targets, json_text=column.kind == JSON,
                               text=column.kind == STRING))
    period = next(c for c in cells if c.name == "BillingPeriodStart")  # mandatory in every version
    provider = "ServiceProviderName" if "provider_name" in renamed.get("ServiceProviderName", ()) else "ProviderName"
    not_null = tuple((provider if name == "ProviderName" else name, position) for name, position in _NOT_NULL_POSITIONS)
    return HeaderPlan(version, cells, period, not_null, unknown, extensions)


# -- reading -------------------------------------------------------------------------------------------------------

class FocusReader(RecordFileReader):
    """Streams the records of one FOCUS file as raw-table tuples (or :class:`Reject`)."""

    def __init__(self, source_file: str, *, focus_version: str = "auto", window: Window | None = None,
                 source_id: str | None = None, dataset: Dataset = FOCUS_COST_LINE_ITEMS) -> None:
        if focus_version != "auto" and focus_version not in FOCUS_VERSIONS:
            raise ValueError(f"focus_version: expected auto or one of {list(FOCUS_VERSIONS)}, got {focus_version!r}")
        label = f"source {source_id}: FOCUS file {source_file}" if source_id else f"FOCUS file {source_file}"
        super().__init__(source_file, dataset, label, window)
        self.focus_version = focus_version

    # -- per file / per record --------------------------------------------------------------------------------------
    def _plan(self, header: list[str]) -> HeaderPlan:
        plan = plan_header(header, self.label, self.focus_version)
        if plan.extensions:
            log.info("%s: FOCUS %s, %d x_ extension column(s) kept in x_extensions: %s", self.label, plan.version,
                     len(plan.extensions), plan.extensions)
        if plan.unknown:
            log.warning("%s: %d column(s) that are neither FOCUS %s nor x_ extensions are kept in "
                        "x_extensions: %s", self.label, len(plan.unknown), plan.version, plan.unknown)
        return plan

    def _record(self, plan: HeaderPlan, row: Any, line: int) -> Iterator[tuple | Reject]:
        period = plan.billing_period_cell
        if self.window is not None:
            value = row[period.index]
            if value is not None and value != "":
                try:
                    start = parse_datetime(value)
                except ValueError as exc:
                    yield self._reject(line, period.name, str(exc), row)
                    return
                if not self.window.start <= start < self.window.end:
                    self.stats.outside_window += 1
                    return
        values: list[Any] = [None] * len(self.dataset.columns)
        extensions: list[str] = []
        problems: list[tuple[str, str]] = []
        for cell in plan.cells:
            value = row[cell.index]
            if value is None or value == "" or (value.__class__ is list and not value):  # [] = an empty Parquet map
                continue
            if cell.parse is not None and not (cell.text and value.__class__ is str):
                try:
                    value = cell.parse(value)
                except ValueError as exc:
                    problems.append((cell.name, str(exc)))
                    continue
            if cell.targets:
                for target in cell.targets:
                    values[target] = value
            else:
                fragment = value if cell.json_text else json.dumps(
                    value if isinstance(value, str) else _jsonable(value), default=str, ensure_ascii=False)
                extensions.append(f"{json.dumps(cell.name)}: {fragment}")
        for name, position in plan.not_null:
            if values[position] is None and name not in {p[0] for p in problems}:
                problems.append((name, "required value is empty (FOCUS does not allow null here)"))
        if problems:
            detail = "; ".join(f"{name}: {reason}" for name, reason in problems)
            yield self._reject(line, problems[0][0], detail, row)
            return
        values[_POSITION["x_extensions"]] = "{" + ", ".join(extensions) + "}" if extensions else None
        values[_POSITION["focus_version"]] = plan.version
        values[_POSITION["source_file"]] = self.source_file
        values[_POSITION["source_line"]] = line
        self.stats.records += 1
        yield tuple(values)


def _jsonable(value: Any) -> Any:
    if isinstance(value, list) and value and all(isinstance(p, tuple) and len(p) == 2 for p in value):
        return {str(k): _jsonable(v) for k, v in value}  # a Parquet map column (e.g. x_CostCategories)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def file_format(location: str, option: str = "auto") -> str:
    """csv or parquet: the ``format`` option, or (auto) the file name's extension."""
    if option in ("csv", "parquet"):
        return option
    name = location.lower().rsplit("/", 1)[-1]
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".csv.gzip")):
        return "csv"
    raise CollectorError(f"FOCUS file {location}: cannot tell the format from the file name (expected .csv, "
                         f".csv.gz or .parquet); set options.format to csv or parquet")


def check_focus_options(collector: Collector) -> tuple[str, str]:
    """Validate the options every FOCUS source shares: ``format`` (auto|csv|parquet) and ``focus_version``
    (auto|1.0|1.1|1.2|1.3). Returns (format, focus_version)."""
    fmt = str(collector.options.get("format", "auto"))
    if fmt not in ("auto", "csv", "parquet"):
        raise ValueError(f"source {collector.source_id}: options.format: expected auto, csv or parquet, got {fmt!r}")
    return fmt, check_focus_version(collector)


def check_focus_version(collector: Collector) -> str:
    """The ``focus_version`` option (auto|1.0|1.1|1.2|1.3) of any FOCUS source."""
    version = str(collector.options.get("focus_version", "auto"))
    if version not in ("auto", *FOCUS_VERSIONS):
        raise ValueError(f"source {collector.source_id}: options.focus_version: expected auto or one of "
                         f"{list(FOCUS_VERSIONS)}, got {version!r}")
    return version


def check_name_options(collector: Collector, *keys: str) -> tuple[str, ...]:
    """Required options that name one storage object (bucket, container, export): non-empty, without '/'."""
    for key in keys:
        value = collector.options.get(key)
        if not isinstance(value, str) or not value or "/" in value:
            raise ValueError(f"source {collector.source_id}: options.{key}: expected a non-empty name without '/', "
                             f"got {value!r}")
    return tuple(collector.options[key] for key in keys)


def period_window(period: str) -> Window:
    """The window [first day, first day of the next month) of billing period ``period`` (YYYY-MM)."""
    start = datetime.strptime(period, "%Y-%m").replace(tzinfo=UTC)
    return Window(start, start.replace(day=2)).months()


def billing_periods(window: Window) -> Iterator[str]:
    """YYYY-MM of every calendar month (billing period) the window touches."""
    month = window.months().start
    while month < window.end:
        yield f"{month.year:04d}-{month.month:02d}"
        month = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)


# -- FOCUS rule checks (reporting, not loading) ----------------------------------------------------------------------

CHARGE_CATEGORIES = frozenset({"Usage", "Purchase", "Tax", "Credit", "Adjustment"})
SERVICE_CATEGORIES = frozenset({
    "AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases", "Developer Tools",
    "Multicloud", "Identity", "Integration", "Internet of Things", "Management and Governance", "Media", "Migration",
    "Mobile", "Networking", "Security", "Storage", "Web", "Other"})

_RULES: dict[str, Callable[[dict[str, Any]], bool]] = {
    # rule -> predicate that is True when a record BREAKS the rule
    "ChargeCategory in {Usage, Purchase, Tax, Credit, Adjustment}":
        lambda r: r["charge_category"] not in CHARGE_CATEGORIES,
    "ChargeClass is null or Correction": lambda r: r["charge_class"] not in (None, "Correction"),
    "ServiceCategory in the FOCUS list": lambda r: r["service_category"] not in SERVICE_CATEGORIES,
    "BillingCurrency present (ISO 4217 code)":
        lambda r: not (r["billing_currency"] or "").isalpha() or len(r["billing_currency"] or "") != 3,
    "ChargePeriodEnd > ChargePeriodStart": lambda r: not r["charge_period_end"] > r["charge_period_start"],
    "BillingPeriodEnd > BillingPeriodStart": lambda r: not r["billing_period_end"] > r["billing_period_start"],
    "ChargePeriodStart within the billing period":
        lambda r: not r["billing_period_start"] <= r["charge_period_start"] < r["billing_period_end"],
    "BilledCost = 0 on covered committed usage (Usage, CommitmentDiscountStatus Used)":
        lambda r: r["charge_category"] == "Usage" and r["commitment_discount_status"] == "Used"
        and r["billed_cost"] != 0,
    "EffectiveCost = 0 on commitment purchases (Purchase with a CommitmentDiscountId)":
        lambda r: r["charge_category"] == "Purchase" and r["commitment_discount_id"] is not None
        and r["effective_cost"] != 0,
    "CommitmentDiscountStatus Used/Unused on Usage rows with a CommitmentDiscountId":
        lambda r: r["charge_category"] == "Usage" and r["commitment_discount_id"] is not None
        and r["commitment_discount_status"] not in ("Used", "Unused"),
    "ChargeFrequency in {One-Time, Recurring, Usage-Based}":
        lambda r: r["charge_frequency"] not in (None, "One-Time", "Recurring", "Usage-Based"),
    "PricingCategory in {Standard, Dynamic, Committed, Other}":
        lambda r: r["pricing_category"] not in (None, "Standard", "Dynamic", "Committed", "Other"),
    "ListCost = ListUnitPrice x PricingQuantity (to the cent)":
        lambda r: _product_differs(r["list_cost"], r["list_unit_price"], r["pricing_quantity"], r["charge_class"]),
    "ContractedCost = ContractedUnitPrice x PricingQuantity (to the cent)":
        lambda r: _product_differs(r["contracted_cost"], r["contracted_unit_price"], r["pricing_quantity"],
                                   r["charge_class"]),
    "Credit rows are not positive (BilledCost <= 0)":
        lambda r: r["charge_category"] == "Credit" and r["billed_cost"] > 0,
}


def _product_differs(cost: Decimal, unit_price: Decimal | None, quantity: Decimal | None, charge_class: str | None
                     ) -> bool:
    """FOCUS: a cost is its unit price times PricingQuantity when both are present (corrections excepted)."""
    if unit_price is None or quantity is None or charge_class == "Correction":
        return False
    return abs(cost - unit_price * quantity) >= Decimal("0.01")


def check_focus_rules(records: Iterable[tuple | Reject]) -> dict[str, tuple[int, str | None]]:
    """Check FOCUS rules on parsed records; per rule: (records breaking it, the first one's file:line or None).
    Used to report what a sample or a delivered export breaks; the loader does not enforce these."""
    names = FOCUS_COST_LINE_ITEMS.column_names
    found: dict[str, tuple[int, str | None]] = {rule: (0, None) for rule in _RULES}
    for record in records:
        if isinstance(record, Reject):
            continue
        row = dict(zip(names, record, strict=True))
        for rule, breaks in _RULES.items():
            if breaks(row):
                count, first = found[rule]
                found[rule] = (count + 1, first or f"{row['source_file']}:{row['source_line']}")
    return found


def read_focus_location(collector: Collector, access: FileAccess, location: str, window: Window, fmt: str,
                        focus_version: str) -> Iterator[tuple | Reject]:
    """Stream one FOCUS file's records whose billing period starts in ``window`` (shared by the FOCUS sources)."""
    reader = FocusReader(location, focus_version=focus_version, window=window, source_id=collector.source_id)
    return read_location(collector, access, location, reader, fmt, window)
