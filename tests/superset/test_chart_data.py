"""Every chart of every dashboard shows what plain SQL on the marts says (tests/superset/chart_sql.py).

The chart's data comes from Superset's chart-data API with the chart's stored query_context, as the admin (no row
filter); the expected rows come from an SQL query written independently of the chart definition.
"""

from __future__ import annotations

import pytest

from tests.superset.chart_data import Shape, bundle_charts, bundle_dashboards, chart_data, dashboard_chart_keys
from tests.superset.chart_sql import CHART_SQL

CHARTS = bundle_charts()


def test_every_chart_has_an_sql_expectation():
    assert set(CHARTS) == set(CHART_SQL), {
        "charts without SQL": sorted(set(CHARTS) - set(CHART_SQL)),
        "SQL without chart": sorted(set(CHART_SQL) - set(CHARTS)),
    }
    on_dashboards = [k for d in bundle_dashboards().values() for k in dashboard_chart_keys(d)]
    assert sorted(on_dashboards) == sorted(CHARTS), "every chart is on exactly one dashboard"


@pytest.fixture(scope="module")
def admin_client(superset_instance):
    return superset_instance.client()


@pytest.mark.parametrize("key", sorted(CHARTS))
def test_chart_data_equals_sql(key, admin_client, deployed_superset, warehouse_conn):
    chart = CHARTS[key]
    chart_id = deployed_superset["charts"][str(chart["uuid"])]
    shape = Shape(chart)
    got = shape.from_chart(chart_data(admin_client, chart_id))
    expected = shape.from_sql(warehouse_conn.execute(CHART_SQL[key]).fetchall())
    assert not shape.differences(got, expected), f"{key} ({chart['slice_name']}):\n  " + "\n  ".join(
        shape.differences(got, expected))
    # an empty chart would compare equal to an empty query: the demo warehouse has data for every chart
    assert expected not in ({}, [], None), f"{key}: the SQL returns nothing on the test warehouse"
