"""AWS Cost and Usage Report (CUR) 2.0: the columns we type, the raw table, and a streaming reader.

What this relies on (AWS Data Exports user guide, "Data Exports table dictionary" > "Cost and Usage Report (CUR)
2.0", https://docs.aws.amazon.com/cur/latest/userguide/table-dictionary-cur2.html, and its column pages
``table-dictionary-cur2-bill``, ``-identity``, ``-line-item``, ``-pricing``, ``-product``, ``-reservation``,
``-savings-plan``, ``-resource-tags``):
- CUR 2.0 has a fixed schema of snake_case columns (``bill_*``, ``identity_*``, ``line_item_*``, ``pricing_*``,
  ``product_*``, ``reservation_*``, ``savings_plan_*``, ...); an export may select a subset of them (the export is
  an SQL query over the ``COST_AND_USAGE_REPORT`` table);
- ``bill_billing_period_start_date`` / ``_end_date`` and ``line_item_usage_start_date`` / ``_end_date`` are UTC
  timestamps (``YYYY-MM-DDTHH:mm:ssZ``); money columns (``line_item_unblended_cost``, ``reservation_*``,
  ``savings_plan_*``, ``pricing_public_on_demand_cost``) are ``double``; rates such as ``line_item_unblended_rate``
  and ``pricing_public_on_demand_rate`` are ``string``;
- ``resource_tags``, ``product``, ``cost_category`` and ``discount`` are key-value maps (the CUR 1 per-key columns
  collapsed into one): ``map<string,string>`` in Parquet;
- ``line_item_line_item_type`` is one of Usage, DiscountedUsage (RI-covered), SavingsPlanCoveredUsage,
  SavingsPlanNegation, SavingsPlanRecurringFee, SavingsPlanUpfrontFee, RIFee, Fee, Tax, Credit, Refund,
  BundledDiscount, EdpDiscount, PrivateRateDiscount, Discount. The amortisation of a commitment needs, per type:
  SavingsPlanCoveredUsage ``savings_plan_savings_plan_effective_cost``, DiscountedUsage ``reservation_effective_cost``,
  SavingsPlanRecurringFee ``savings_plan_total_commitment_to_date`` and ``savings_plan_used_commitment``, RIFee
  ``reservation_unused_amortized_upfront_fee_for_billing_period`` and ``reservation_unused_recurring_fee`` (the
  amortised-cost formula of AWS's Cloud Intelligence Dashboards, aws-samples/aws-cudos-framework-deployment
  ``cid/builtin/core/data/queries/trends/monthly_bill_by_account.sql``, identical to the FinOps Foundation
  focus_converters plan ``conversion_configs/aws/effective_cost_S001.yaml``).

Not confirmed from AWS's pages (we could not read them whole): the CSV encoding of the map columns — we accept a
JSON object (``{"user_team":"web"}``) and reject anything else naming the column; whether a CSV timestamp may come
without its ``Z`` — one without an offset is read as UTC (every CUR time is documented as UTC); and whether RIFee
lines always carry both unused-fee columns — an empty one is kept NULL (the cost model counts it as 0).

What lands in ``raw.aws_data_export_cur2_line_items`` (:data:`CUR2_LINE_ITEMS`): the columns of :data:`COLUMNS`,
typed (numeric from the exact text of a CSV cell, or from the shortest repr of a Parquet double — never through a
float sum), the four maps as jsonb objects, ``extras`` (a jsonb object with every other column of the file, as
delivered: the ~90 CUR 2.0 columns we do not type, and unknown ones), ``source_file`` and ``source_line`` (CSV line
where the record starts, or the 1-based Parquet row). The time column is ``bill_billing_period_start_date``: a load
replaces whole billing periods.

Errors: a file without one of :data:`MANDATORY` is a :class:`CollectorError` naming the file and the column(s); a
row of a commitment type whose amortisation column is not in the file is a :class:`CollectorError` naming the file,
line, type and column; a bad value (not a number, not a date, not a JSON object) or an empty required value is a
:class:`Reject` naming ``file:line`` and the column.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from collectors.core.base import CollectorError, Column, Dataset, Reject, Window
from collectors.core.focus_schema import _jsonable, parse_decimal, parse_json_object, parse_string
from collectors.core.record_file import RecordFileReader

log = logging.getLogger(__name__)

DECIMAL, DATETIME, STRING, MAP = "decimal", "datetime", "string", "map"


@dataclass(frozen=True)
class Cur2Column:
    """A CUR 2.0 column with a typed raw column of the same name. ``not_null``: a row without a value is rejected."""

    name: str
    kind: str
    not_null: bool = False


def _cols(kind: str, *names: str, not_null: bool = False) -> tuple[Cur2Column, ...]:
    return tuple(Cur2Column(n, kind, not_null) for n in names)


# The typed columns, in raw-table order (grouped as the table dictionary groups them).
COLUMNS: tuple[Cur2Column, ...] = (
    *_cols(STRING, "identity_line_item_id", "identity_time_interval"),
    *_cols(STRING, "bill_payer_account_id", not_null=True),
    *_cols(STRING, "bill_payer_account_name", "bill_invoice_id", "bill_bill_type", "bill_billing_entity",
           "bill_invoicing_entity"),
    *_cols(DATETIME, "bill_billing_period_start_date", "bill_billing_period_end_date", not_null=True),
    *_cols(STRING, "line_item_usage_account_id", "line_item_line_item_type", not_null=True),
    *_cols(STRING, "line_item_usage_account_name"),
    *_cols(DATETIME, "line_item_usage_start_date", "line_item_usage_end_date", not_null=True),
    *_cols(STRING, "line_item_product_code", "line_item_usage_type", "line_item_operation", "line_item_resource_id",
           "line_item_availability_zone", "line_item_legal_entity", "line_item_line_item_description",
           "line_item_tax_type"),
    *_cols(DECIMAL, "line_item_usage_amount"),
    *_cols(DECIMAL, "line_item_unblended_cost", not_null=True),
    *_cols(DECIMAL, "line_item_net_unblended_cost", "line_item_blended_cost"),
    *_cols(STRING, "line_item_currency_code", not_null=True),
    *_cols(DECIMAL, "pricing_public_on_demand_cost"),
    *_cols(STRING, "pricing_term", "pricing_unit"),
    *_cols(STRING, "product_servicecode", "product_region_code", "product_location", "product_product_family",
           "product_sku", "product_instance_type"),
    *_cols(MAP, "product", "resource_tags", "cost_category", "discount"),
    *_cols(STRING, "reservation_reservation_a_r_n"),
    *_cols(DECIMAL, "reservation_effective_cost", "reservation_amortized_upfront_fee_for_billing_period",
           "reservation_unused_amortized_upfront_fee_for_billing_period", "reservation_unused_recurring_fee",
           "reservation_recurring_fee_for_usage"),
    *_cols(STRING, "savings_plan_savings_plan_a_r_n"),
    *_cols(DECIMAL, "savings_plan_savings_plan_effective_cost", "savings_plan_total_commitment_to_date",
           "savings_plan_used_commitment"),
)
BY_NAME: dict[str, Cur2Column] = {c.name: c for c in COLUMNS}

# A file without one of these cannot be loaded: they place a line (billing period, account, time) and carry its
# billed money. The rest of COLUMNS may be left out of an export (NULL here).
MANDATORY = ("bill_billing_period_start_date", "bill_billing_period_end_date", "bill_payer_account_id",
             "line_item_usage_account_id", "line_item_line_item_type", "line_item_usage_start_date",
             "line_item_usage_end_date", "line_item_product_code", "line_item_unblended_cost",
             "line_item_currency_code")

# Per line type: the columns its effective (amortised) cost is computed from. The column must be in the file when such
# a line occurs; the value must be present where marked True (RIFee fees may legitimately be empty: treated as 0).
AMORTISATION_COLUMNS: dict[str, tuple[tuple[str, bool], ...]] = {
    "SavingsPlanCoveredUsage": (("savings_plan_savings_plan_effective_cost", True),),
    "DiscountedUsage": (("reservation_effective_cost", True),),
    "SavingsPlanRecurringFee": (("savings_plan_total_commitment_to_date", True),
                                ("savings_plan_used_commitment", True)),
    "RIFee": (("reservation_unused_amortized_upfront_fee_for_billing_period", False),
              ("reservation_unused_recurring_fee", False)),
}

_PG_TYPES = {DECIMAL: "numeric", DATETIME: "timestamptz", STRING: "text", MAP: "jsonb"}

CUR2_LINE_ITEMS = Dataset(
    name="cur2_line_items",
    table="aws_data_export_cur2_line_items",
    time_column="bill_billing_period_start_date",
    columns=(
        *(Column(c.name, _PG_TYPES[c.kind], nullable=not c.not_null) for c in COLUMNS),
        Column("extras", "jsonb"),
        Column("source_file", "text", nullable=False),
        Column("source_line", "bigint", nullable=False),
    ),
)
_POSITION = {name: i for i, name in enumerate(CUR2_LINE_ITEMS.column_names)}


def parse_utc_datetime(value: Any) -> datetime:
    """A CUR time: a Parquet timestamp (naive = UTC) or date, or ISO 8601 text (``Z``, an offset, or none = UTC)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
    except ValueError:
        raise ValueError(f"not an ISO-8601 date/time: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


PARSERS: dict[str, Callable[[Any], Any]] = {
    DECIMAL: parse_decimal, DATETIME: parse_utc_datetime, STRING: parse_string, MAP: parse_json_object}


@dataclass(frozen=True)
class _Cell:
    index: int
    name: str
    column: Cur2Column | None  # None: goes into extras as delivered


@dataclass
class Cur2Plan:
    """How the columns of one file land in the raw table."""

    cells: list[_Cell]
    index: dict[str, int]  # column name -> position in the file's row
    untyped: list[str] = field(default_factory=list)


class Cur2Reader(RecordFileReader):
    """Streams the records of one CUR 2.0 data file (gzip CSV or Parquet) as raw-table tuples (or :class:`Reject`);
    with a ``window``, only records whose ``bill_billing_period_start_date`` lies in it."""

    def __init__(self, source_file: str, *, window: Window | None = None, source_id: str | None = None) -> None:
        label = f"source {source_id}: CUR 2.0 file {source_file}" if source_id else f"CUR 2.0 file {source_file}"
        super().__init__(source_file, CUR2_LINE_ITEMS, label, window)

    def _plan(self, header: list[str]) -> Cur2Plan:
        duplicates = sorted({h for h in header if header.count(h) > 1})
        if duplicates:
            raise CollectorError(f"{self.label}: duplicate column(s) {duplicates} in the header")
        missing = [name for name in MANDATORY if name not in header]
        if missing:
            raise CollectorError(f"{self.label}: missing mandatory CUR 2.0 column(s) {missing}; the export must "
                                 f"include them (AWS Data Exports table COST_AND_USAGE_REPORT)")
        cells = [_Cell(i, name, BY_NAME.get(name)) for i, name in enumerate(header)]
        plan = Cur2Plan(cells, {name: i for i, name in enumerate(header)},
                        [c.name for c in cells if c.column is None])
        log.info("%s: %d typed CUR 2.0 column(s), %d other column(s) kept in extras", self.label,
                 len(cells) - len(plan.untyped), len(plan.untyped))
        return plan

    def _record(self, plan: Cur2Plan, row: Any, line: int) -> Iterator[tuple | Reject]:
        if self.window is not None:
            value = row[plan.index["bill_billing_period_start_date"]]
            if value is not None and value != "":
                try:
                    start = parse_utc_datetime(value)
                except ValueError as exc:
                    yield self._reject(line, "bill_billing_period_start_date", str(exc), row)
                    return
                if not self.window.start <= start < self.window.end:
                    self.stats.outside_window += 1
                    return
        values: list[Any] = [None] * len(CUR2_LINE_ITEMS.columns)
        extras: list[str] = []
        problems: list[tuple[str, str]] = []
        for cell in plan.cells:
            value = row[cell.index]
            if value is None or value == "" or (value.__class__ is list and not value):  # [] = an empty Parquet map
                continue
            if cell.column is None:
                extras.append(f"{json.dumps(cell.name)}: "
                              f"{json.dumps(_jsonable(value), default=str, ensure_ascii=False)}")
                continue
            if not (cell.column.kind == STRING and value.__class__ is str):
                try:
                    value = PARSERS[cell.column.kind](value)
                except ValueError as exc:
                    problems.append((cell.name, str(exc)))
                    continue
            values[_POSITION[cell.name]] = value
        failed = {name for name, _ in problems}
        for column in COLUMNS:
            if column.not_null and values[_POSITION[column.name]] is None and column.name not in failed:
                problems.append((column.name, "required value is empty"))
        line_type = values[_POSITION["line_item_line_item_type"]]
        for name, value_required in AMORTISATION_COLUMNS.get(line_type, ()):
            if name not in plan.index:
                raise CollectorError(f"{self.label}: line {line} is a {line_type} line, but the file has no {name} "
                                     f"column (its effective cost is computed from it); add it to the export")
            if value_required and values[_POSITION[name]] is None and name not in failed:
                problems.append((name, f"required on {line_type} lines (their effective cost), but empty"))
        if problems:
            detail = "; ".join(f"{name}: {reason}" for name, reason in problems)
            yield self._reject(line, problems[0][0], detail, row)
            return
        values[_POSITION["extras"]] = "{" + ", ".join(extras) + "}" if extras else None
        values[_POSITION["source_file"]] = self.source_file
        values[_POSITION["source_line"]] = line
        self.stats.records += 1
        yield tuple(values)
