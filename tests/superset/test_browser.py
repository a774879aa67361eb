"""Every role in a real headless Chromium (Debian's package): it logs in as its demo user, opens each of its
dashboards, waits until every chart has drawn, and sees no chart error. It reads one big number per dashboard and
compares it with SQL. It also checks that the data the browser received for each chart equals the chart-data API's
answer for the same user, and for the Analyst (no row filter) equals the SQL of tests/superset/chart_sql.py. Finally
it opens a dashboard of another role and is refused. One PNG per role and dashboard goes to
$OPENFINOPS_TEST_ARTIFACTS_DIR/screenshots (default .openfinops/test-artifacts).
"""

from __future__ import annotations

import json
import os
import time
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from openfinops.config import load_config
from tests.superset.chart_data import Shape, bundle_charts, bundle_dashboards, chart_data, dashboard_chart_keys, same
from tests.superset.chart_sql import CHART_SQL

REPO = Path(__file__).resolve().parents[2]
POLICY = yaml.safe_load((REPO / "superset" / "access.yaml").read_text())
TEAMS = {f"Team {t.name}": t.id for t in load_config(REPO / "config" / "openfinops.yaml").teams}
ROLES = [*POLICY["roles"], *TEAMS]
ARTIFACTS = Path(os.environ.get("OPENFINOPS_TEST_ARTIFACTS_DIR", REPO / ".openfinops" / "test-artifacts"))
CHARTS = bundle_charts()
DASHBOARDS = bundle_dashboards()
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# The big number read off each dashboard, and its SQL (team roles: for their team only).
BIG_NUMBERS = {
    "overview": "overview_spend_month_to_date",
    "cfo": "cfo_month_end_forecast",
    "coo": "coo_budget_adherence_overall",
    "infrastructure": "infra_low_utilisation_cost",
    "ml": "ml_training_cost",
    "team": "team_total_cost",
}
TEAM_BIG_NUMBER_SQL = "SELECT SUM(total_cost) FROM marts.fct_showback_monthly WHERE team = %s"
# Query keys that carry no query semantics (or are filled in by the page)
_CONTEXT_ONLY_KEYS = {"url_params", "custom_params", "custom_form_data", "annotation_layers", "applied_time_extras"}


def query_differences(stored: dict, sent: dict) -> list[str]:
    """Where the query the browser built from the chart's params differs from the chart's stored query_context
    (which the chart-data API, reports and tests use): they must be the same query."""
    keys = (set(stored) | set(sent)) - _CONTEXT_ONLY_KEYS
    return [f"{k}: stored {stored.get(k, '<absent>')!r}, browser {sent.get(k, '<absent>')!r}" for k in sorted(keys)
            if stored.get(k, "<absent>") != sent.get(k, "<absent>")]


def role_dashboards(role: str) -> list[str]:
    dashboards = POLICY["team_roles"]["dashboards"] if role in TEAMS else POLICY["roles"][role]["dashboards"]
    return sorted(DASHBOARDS) if dashboards == "all" else list(dashboards)


def demo_username(role: str) -> str:
    return f"team-{TEAMS[role]}" if role in TEAMS else role.lower()


def format_big_number(value: Decimal, d3_format: str, money: bool) -> str:
    """The text Superset draws for the d3 formats our big numbers use (money in USD: `$ ` prefix)."""
    if d3_format in (".1%", "+.1%"):
        return f"{value * 100:{'+' if d3_format.startswith('+') else ''}.1f}%"
    decimals = int(d3_format.rsplit(".", 1)[1].rstrip("f"))
    text = f"{value:,.{decimals}f}"
    return f"$ {text}" if money else text


@pytest.fixture(scope="module")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def demo_passwords(superset_instance, deployed_superset) -> dict[str, str]:
    doc = json.loads((superset_instance.credentials_dir / "superset_users.json").read_text())
    return {name: entry["password"] for name, entry in doc["users"].items()}


def login(page, url: str, username: str, password: str, attempts: int = 3) -> None:
    """Form login, then prove the session works with an API call (the login page's own unload beacon can race the
    redirect and replace the fresh session cookie; then we log in again)."""
    for _ in range(attempts):
        page.goto(f"{url}/login/", wait_until="domcontentloaded")
        page.fill("input#username", username)
        page.fill("input#password", password)
        page.click("button[type=submit]")
        try:
            page.wait_for_url(lambda u: "/login" not in u, timeout=60_000)
        except Exception:  # a slow redirect on a busy machine: log in again (attempts)
            continue
        page.wait_for_load_state("networkidle")
        if page.request.get(f"{url}/api/v1/me/").status == 200:
            return
    raise AssertionError(f"{username}: browser session not authenticated after {attempts} attempts")


def open_dashboard(page, url: str, slug: str, n_charts: int) -> list[tuple[int, dict, dict]]:
    """Open a dashboard, wait until all n charts have drawn; returns (status, request, response) of every
    chart-data call the page made."""
    calls: list[tuple[int, dict, dict]] = []

    def on_response(resp):
        if "/api/v1/chart/data" in resp.url:
            try:
                body = resp.json()
            except Exception:  # a non-JSON answer is itself a failure, kept as {}
                body = {}
            calls.append((resp.status, resp.request.post_data_json or {}, body))

    page.on("response", on_response)
    try:
        page.goto(f"{url}/superset/dashboard/{slug}/", wait_until="domcontentloaded")
        page.wait_for_selector('[data-test="chart-grid-component"]', timeout=90_000)
        page.wait_for_function(
            """(n) => {
                const slices = [...document.querySelectorAll('[data-test="slice-container"]')];
                if (slices.length < n) return false;
                if (document.querySelector('[data-test="loading-indicator"]')) return false;
                return slices.every(s => s.querySelector('canvas, svg, table, .header-line')
                                         || /No results/.test(s.innerText));
            }""",
            arg=n_charts,
            timeout=90_000,
        )
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(1500)  # ECharts entry animations, before the screenshot
    finally:
        page.remove_listener("response", on_response)
    return calls


def drawn_charts(page, n: int) -> int:
    """How many titled charts the page shows, after waiting (up to 15 s) for n of them."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("(n) => document.querySelectorAll('[data-test-chart-name]').length >= n", arg=n,
                               timeout=15_000)
    except PlaywrightTimeout:
        pass  # fewer than n: reported by the caller with the count
    return page.eval_on_selector_all("[data-test-chart-name]", "els => els.length")


def chart_errors(page) -> list[str]:
    return page.eval_on_selector_all(
        '[data-test="slice-container"]',
        """els => els.filter(e => e.querySelector('.alert, [role="alert"]')
                                   || /Unexpected error|Data error|No results/.test(e.innerText))
                     .map(e => (e.closest('[data-test-chart-name]')?.getAttribute('data-test-chart-name') || '?')
                               + ': ' + e.innerText.slice(0, 200))""",
    )


@pytest.mark.parametrize("role", ROLES)
def test_role_sees_its_dashboards_in_chromium(role, browser, superset_instance, deployed_superset, demo_passwords,
                                              warehouse_conn):
    username = demo_username(role)
    api = superset_instance.client(username, demo_passwords[username])
    slug_of_chart_id = {}
    key_of_chart_id = {}
    for key, chart in CHARTS.items():
        key_of_chart_id[deployed_superset["charts"][str(chart["uuid"])]] = key
    for slug, dash in DASHBOARDS.items():
        for key in dashboard_chart_keys(dash):
            slug_of_chart_id[deployed_superset["charts"][str(CHARTS[key]["uuid"])]] = slug
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1600, "height": 1200})
    problems: list[str] = []
    t0 = time.monotonic()
    try:
        page = context.new_page()
        login(page, superset_instance.url, username, demo_passwords[username])
        for slug in role_dashboards(role):
            keys = dashboard_chart_keys(DASHBOARDS[slug])
            calls = open_dashboard(page, superset_instance.url, slug, len(keys))
            # Counted and checked before the full-page screenshot: the screenshot resizes the viewport, and the
            # grid re-lays out (charts re-mount) while it does, so a count taken right after it can read 0.
            problems += [f"{slug}: chart error: {e}" for e in chart_errors(page)]
            drawn = drawn_charts(page, len(keys))
            page.screenshot(path=str(shots / f"{username}__{slug}.png"), full_page=True)
            if drawn < len(keys):
                problems.append(f"{slug}: {drawn} charts drawn, the dashboard has {len(keys)}")

            # every chart-data call succeeded; each chart's data equals the API's answer for this user (and SQL)
            seen = set()
            for status, request, body in calls:
                slice_id = (request.get("form_data") or {}).get("slice_id")
                if status != 200 or any(r.get("error") for r in body.get("result", [])):
                    problems.append(f"{slug}: chart-data for slice {slice_id} answered {status}: {str(body)[:300]}")
                    continue
                if slice_id is None:  # native filter value lists
                    continue
                key = key_of_chart_id[slice_id]
                assert slug_of_chart_id[slice_id] == slug, f"{slug} asked for a chart of another dashboard: {key}"
                seen.add(key)
                stored = json.loads(CHARTS[key]["query_context"])["queries"][0]
                problems += [f"{slug}/{key} query: {d}" for d in query_differences(stored, request["queries"][0])]
                shape = Shape(CHARTS[key])
                in_browser = shape.from_chart(body["result"][0])
                from_api = shape.from_chart(chart_data(api, slice_id, {"dashboardId": deployed_superset[
                    "dashboards"][slug]}))
                problems += [f"{slug}/{key} browser vs API: {d}" for d in shape.differences(in_browser, from_api)]
                if role == "Analyst":
                    from_sql = shape.from_sql(warehouse_conn.execute(CHART_SQL[key]).fetchall())
                    problems += [f"{slug}/{key} browser vs SQL: {d}" for d in shape.differences(in_browser, from_sql)]
            if set(keys) - seen:
                problems.append(f"{slug}: no chart-data call seen for {sorted(set(keys) - seen)}")

            # one big number, as drawn, against SQL
            key = BIG_NUMBERS[slug]
            chart = CHARTS[key]
            if slug == "team" and role in TEAMS:
                (value,) = warehouse_conn.execute(TEAM_BIG_NUMBER_SQL, (TEAMS[role],)).fetchone()
            else:
                (value,) = warehouse_conn.execute(CHART_SQL[key]).fetchone()
            fmt = chart["params"]["y_axis_format"]
            money = chart["params"].get("currency_format", {}).get("symbol") == "AUTO"
            expected = format_big_number(Decimal(value), fmt, money)
            drawn_text = page.locator(f'[data-test-chart-name="{chart["slice_name"]}"] .header-line').inner_text()
            if drawn_text.replace("\u00a0", " ").strip() != expected:
                problems.append(f"{slug}: big number {chart['slice_name']!r} shows {drawn_text!r}, SQL {expected!r}")

        # a dashboard of another role is refused
        other = next(s for s in DASHBOARDS if s not in role_dashboards(role)) if role != "Analyst" else None
        if other:
            resp = page.goto(f"{superset_instance.url}/superset/dashboard/{other}/", wait_until="domcontentloaded")
            page.wait_for_timeout(1000)
            if resp.status not in (403, 404) or page.locator('[data-test="chart-grid-component"]').count():
                problems.append(f"{other}: opened by {role} (HTTP {resp.status})")
            page.screenshot(path=str(shots / f"{username}__refused_{other}.png"))
    finally:
        context.close()
    print(f"\n[browser] {role}: {len(role_dashboards(role))} dashboard(s) in {time.monotonic() - t0:.1f} s")
    assert not problems, f"{role}:\n  " + "\n  ".join(problems[:30])


def test_format_big_number():
    assert format_big_number(Decimal("9133.064"), ",.2f", True) == "$ 9,133.06"
    assert format_big_number(Decimal("0.2314"), "+.1%", False) == "+23.1%"
    assert format_big_number(Decimal("-0.05"), "+.1%", False) == "-5.0%"
    assert format_big_number(Decimal("0.987"), ".1%", False) == "98.7%"
    assert format_big_number(Decimal("0.04312"), ",.4f", True) == "$ 0.0431"
    assert same(Decimal("1.0000000001"), Decimal("1"))
