"""Turn a chart's chart-data API result and the rows of an SQL query into the same comparable shape.

Superset answers with JSON: money and ratios as floats, dates and timestamps as epoch milliseconds, and time series
already pivoted (one column per series, named after the series dimension values, or ``"<metric>, <values>"`` when
there are several metrics). The SQL side is psycopg's Decimals, dates and datetimes. Both become:

* numbers -> Decimal (float via its shortest repr, which round-trips);
* dates / datetimes -> epoch milliseconds as Decimal, microseconds kept (UTC; a timestamp without time zone is
  taken as UTC, as Superset does);
* time series -> {(x, series label): value}.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "superset" / "bundle"
# Money and ratios agree to 1e-9 of their size: far below a cent for any realistic amount (a float keeps ~15
# significant digits; Superset converts numeric to float).
RELATIVE_TOLERANCE = Decimal("1e-9")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def bundle_charts() -> dict[str, dict[str, Any]]:
    """Chart key (file name) -> chart YAML of the bundle."""
    return {p.stem: yaml.safe_load(p.read_text()) for p in sorted((BUNDLE / "charts").glob("*.yaml"))}


def bundle_dashboards() -> dict[str, dict[str, Any]]:
    return {p.stem: yaml.safe_load(p.read_text()) for p in sorted((BUNDLE / "dashboards").glob("*.yaml"))}


def dashboard_chart_keys(dashboard: dict[str, Any]) -> list[str]:
    """Chart keys on a dashboard, in layout order (node ids are CHART-<key>)."""
    return [node_id.removeprefix("CHART-") for node_id, node in dashboard["position"].items()
            if isinstance(node, dict) and node.get("type") == "CHART"]


def normalise(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, dt.datetime):
        value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        delta = value - _EPOCH
        return Decimal((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds) / 1000
    if isinstance(value, dt.date):
        return normalise(dt.datetime.combine(value, dt.time(), dt.UTC))
    raise TypeError(f"unexpected value {value!r}")


def same(a: Any, b: Any) -> bool:
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return abs(a - b) <= RELATIVE_TOLERANCE * max(Decimal(1), abs(b))
    return a == b


def chart_data(client, chart_id: int, form_data_extra: dict[str, Any] | None = None, expect_ok: bool = True):
    """POST /api/v1/chart/data with the chart's stored query_context (what reports and the API use)."""
    chart = client.get(f"/api/v1/chart/{chart_id}").json()["result"]
    qc = json.loads(chart["query_context"])
    qc["form_data"] = {**qc.get("form_data", {}), "slice_id": chart_id, **(form_data_extra or {})}
    qc["result_type"] = "full"
    resp = client.session.post(f"{client.url}/api/v1/chart/data", json=qc, timeout=client.timeout)
    if not expect_ok:
        return resp
    assert resp.status_code == 200, f"chart {chart_id}: HTTP {resp.status_code} {resp.text[:500]}"
    (result,) = resp.json()["result"]
    assert result.get("error") is None, result
    return result


class Shape:
    """How one chart's data is compared: from the chart's params (which metrics and dimensions it has)."""

    def __init__(self, chart_yaml: dict[str, Any]):
        self.params = chart_yaml["params"]
        self.viz = chart_yaml["viz_type"]

    @property
    def kind(self) -> str:
        if self.viz == "big_number_total":
            return "scalar"
        if self.viz == "table":
            return "table"
        return "series"

    def from_chart(self, result: dict[str, Any]) -> Any:
        data, colnames = result["data"], result["colnames"]
        if self.kind == "scalar":
            assert len(data) == 1, data
            return normalise(data[0][self.params["metric"]])
        if self.kind == "table":
            return self._order([tuple(normalise(row[c]) for c in colnames) for row in data])
        x = self.params["x_axis"]
        out = {}
        for row in data:
            for col, value in row.items():
                if col != x and value is not None:
                    out[(normalise(row[x]), col)] = normalise(value)
        return out

    def from_sql(self, rows: list[tuple]) -> Any:
        if self.kind == "scalar":
            assert len(rows) == 1, rows
            return normalise(rows[0][0])
        if self.kind == "table":
            return self._order([tuple(normalise(v) for v in row) for row in rows])
        metrics, groupby = self.params["metrics"], self.params.get("groupby") or []
        out = {}
        for row in rows:
            x, dims, values = row[0], row[1:1 + len(groupby)], row[1 + len(groupby):]
            assert len(values) == len(metrics), f"SQL gives {len(values)} values, the chart has metrics {metrics}"
            for metric, value in zip(metrics, values, strict=True):
                if value is None:
                    continue
                dim = ", ".join(str(d) for d in dims)
                label = metric if not groupby else (dim if len(metrics) == 1 else f"{metric}, {dim}")
                out[(normalise(x), label)] = normalise(value)
        return out

    def _order(self, rows: list[tuple]) -> list[tuple]:
        """Raw tables keep their order (the chart's order_by is total); aggregated ones are compared as sets."""
        if self.params.get("query_mode") == "aggregate":
            return sorted(rows, key=repr)
        return rows

    def differences(self, got: Any, expected: Any, limit: int = 10) -> list[str]:
        if self.kind == "scalar":
            return [] if same(got, expected) else [f"chart {got} != SQL {expected}"]
        if self.kind == "table":
            problems = [] if len(got) == len(expected) else [f"{len(got)} rows, SQL has {len(expected)}"]
            for i, (g, e) in enumerate(zip(got, expected, strict=False)):
                if len(g) != len(e) or not all(same(a, b) for a, b in zip(g, e, strict=True)):
                    problems.append(f"row {i}: chart {g} != SQL {e}")
            return problems[:limit]
        problems = [f"only in chart: {k} = {got[k]}" for k in sorted(set(got) - set(expected), key=str)]
        problems += [f"only in SQL: {k} = {expected[k]}" for k in sorted(set(expected) - set(got), key=str)]
        problems += [f"{k}: chart {got[k]} != SQL {expected[k]}" for k in sorted(set(got) & set(expected), key=str)
                     if not same(got[k], expected[k])]
        return problems[:limit]
