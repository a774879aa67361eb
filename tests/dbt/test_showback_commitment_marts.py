"""Monthly cost, showback (shared-cost allocation) and commitment marts on the built demo warehouse, against figures
computed independently in Python from the raw rows (``raw.demo_*``) and the config's showback rules: ``Decimal`` for
money, ``Fraction`` for the exact split. No SQL aggregation on the expected side.

Money is USD in the demo; the helpers still key everything by currency, as the marts do."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from math import floor

import psycopg
import pytest

from collectors.sources.demo import SAVINGS_PLAN_ID, SAVINGS_PLAN_MONTHLY_MICRO, SAVINGS_PLAN_SUB_ACCOUNT, TEAMS
from tests.conftest import databricks_raw_costs, snowflake_raw_costs

CENT = Decimal("0.01")
UNALLOCATED = "unallocated"


def fetch(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def cents(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(CENT, ROUND_HALF_UP)


def pct(part: Decimal, whole: Decimal) -> Decimal | None:
    """100 x part / whole to 2 decimals, half away from zero (PostgreSQL round on numeric); None for a zero whole."""
    return None if not whole else (Decimal(100) * part / whole).quantize(CENT, ROUND_HALF_UP)


def tag(tags: dict | None, *keys: str) -> str:
    """The first non-blank value of `keys` (tag keys matched case-insensitively), trimmed and lower-cased, else
    'untagged' - the team / environment rule of the marts."""
    lowered = {str(k).lower(): v for k, v in sorted((tags or {}).items())}
    for key in keys:
        value = str(lowered.get(key) or "").strip().lower()
        if value:
            return value
    return "untagged"


@dataclass(frozen=True)
class Line:
    """One cost line as the raw tables hold it, with the dimensions the showback scopes and commitment marts use."""

    day: date
    provider: str
    billing_account_id: str
    sub_account_id: str | None
    service: str | None
    source_id: str
    tags: dict
    currency: str
    charge_category: str
    pricing_category: str | None
    commitment_id: str | None
    commitment_status: str | None
    billed: Decimal
    effective: Decimal
    list_cost: Decimal | None
    contracted: Decimal | None

    @property
    def month(self) -> date:
        return self.day.replace(day=1)

    @property
    def team(self) -> str:
        return tag(self.tags, "team")

    @property
    def environment(self) -> str:
        return tag(self.tags, "env", "environment")


def as_dict(value) -> dict:
    return json.loads(value) if isinstance(value, str) else (value or {})


def raw_lines(url: str) -> list[Line]:
    """Every demo cost line from raw.*: the cloud lines as delivered, Databricks usage x list price, Snowflake
    credits billed x credit price (billed = effective = list = contracted for both)."""
    lines = [
        Line(start.astimezone(UTC).date(), provider, account, sub, service, source, as_dict(tags), currency,
             category, pricing, commitment, status, billed, effective, list_cost, contracted)
        for (start, provider, account, sub, service, source, tags, currency, category, pricing, commitment, status,
             billed, effective, list_cost, contracted) in fetch(url, """
            SELECT charge_period_start, provider_name, billing_account_id, sub_account_id, service_name, _source_id,
                   tags, billing_currency, charge_category, pricing_category, commitment_discount_id,
                   commitment_discount_status, billed_cost, effective_cost, list_cost, contracted_cost
            FROM raw.focus_cost_line_items""")]
    for usage in databricks_raw_costs(url):
        cost = usage["cost"]
        lines.append(Line(usage["usage_start_time"].astimezone(UTC).date(), "Databricks", usage["account_id"],
                          usage["workspace_id"], None, usage["source_id"], as_dict(usage["custom_tags"]),
                          usage["currency"], "Usage", "Standard", None, None, cost, cost, cost, cost))
    for metering in snowflake_raw_costs(url):
        cost = metering["cost"]
        billing_account = metering["organization_name"] or metering["account_name"]
        lines.append(Line(metering["usage_date"], "Snowflake", billing_account, metering["account_name"], None,
                          metering["source_id"], {}, metering["currency"], "Usage", "Standard", None, None, cost,
                          cost, cost, cost))
    return lines


# --- showback: an independent implementation of the config's rules ------------------------------------------------

def in_scope(scope, line: Line) -> bool:
    """openfinops.config.CostScope on one line: dimensions ANDed, values ORed, teams/environments/tags
    case-insensitive."""
    def lowered(values):
        return {v.strip().lower() for v in values}

    if scope.service_categories is not None or (scope.services is not None and line.service is None):
        pytest.fail("a showback rule scopes on services: extend raw_lines with service names and categories")
    checks = [
        (scope.providers, line.provider, False), (scope.billing_account_ids, line.billing_account_id, False),
        (scope.sub_account_ids, line.sub_account_id, False), (scope.services, line.service, False),
        (scope.sources, line.source_id, False), (scope.teams, line.team, True),
        (scope.environments, line.environment, True)]
    for allowed, value, case_insensitive in checks:
        if allowed is not None and value not in (lowered(allowed) if case_insensitive else set(allowed)):
            return False
    line_tags = {str(k).lower(): str(v).strip().lower() for k, v in line.tags.items() if v is not None}
    return all(line_tags.get(key) in lowered(values) for key, values in (scope.tags or {}).items())


def split_exactly(pool: Decimal, weights: dict[str, Decimal]) -> dict[str, Decimal]:
    """Largest remainder in units of 10^-scale (the pool's decimals, at least cents): floors of the exact shares,
    then one unit each to the largest remainders (ties by team name)."""
    scale = max(-pool.as_tuple().exponent, 2)
    units = int(abs(pool).scaleb(scale))
    total = sum(weights.values())
    exact = {team: Fraction(units) * Fraction(w) / Fraction(total) for team, w in weights.items()}
    shares = {team: floor(x) for team, x in exact.items()}
    leftover = units - sum(shares.values())
    for team in sorted(exact, key=lambda t: (-(exact[t] - shares[t]), t))[:leftover]:
        shares[team] += 1
    sign = -1 if pool < 0 else 1
    return {team: Decimal(sign * n).scaleb(-scale) for team, n in shares.items()}


@dataclass
class Showback:
    pools: dict  # (rule_id, month, currency) -> pooled effective cost
    allocations: dict  # (rule_id, month, currency, team) -> allocated cost
    teams: dict  # (month, team, currency) -> [own, shared_out, allocated]


def expected_showback(lines: list[Line], rules) -> Showback:
    pools: dict = defaultdict(Decimal)
    direct: dict = defaultdict(Decimal)
    teams: dict = defaultdict(lambda: [Decimal(0)] * 3)
    for line in lines:
        rule = next((r for r in rules if in_scope(r.scope, line)), None)  # config order: the first rule wins
        acc = teams[(line.month, line.team, line.currency)]
        acc[0] += line.effective
        if rule is None:
            direct[(line.month, line.currency, line.team)] += line.effective
        else:
            acc[1] += line.effective
            pools[(rule.id, line.month, line.currency)] += line.effective
    allocations = {}
    for (rule_id, month, currency), pool in pools.items():
        rule = next(r for r in rules if r.id == rule_id)
        month_direct = {t: c for (m, cur, t), c in direct.items() if (m, cur) == (month, currency)}
        if rule.recipients:
            recipients = {t.strip().lower() for t in rule.recipients}
        elif rule.method == "fixed":
            recipients = {t.strip().lower() for t in rule.weights}
        else:
            recipients = {t for t, c in month_direct.items() if c > 0}
        fixed = {k.strip().lower(): v for k, v in (rule.weights or {}).items()}
        weights = {t: {"proportional": max(month_direct.get(t, Decimal(0)), Decimal(0)), "even": Decimal(1),
                       "fixed": fixed.get(t, Decimal(0))}[rule.method] for t in recipients}
        weights = {t: w for t, w in weights.items() if w > 0}
        split = split_exactly(pool, weights) if weights else {UNALLOCATED: pool}
        for team, amount in split.items():
            allocations[(rule_id, month, currency, team)] = amount
            teams[(month, team, currency)][2] += amount
    return Showback(dict(pools), allocations, dict(teams))


@pytest.fixture(scope="module")
def lines(built_warehouse) -> list[Line]:
    return raw_lines(built_warehouse.url)


@pytest.fixture(scope="module")
def showback(lines, cfg) -> Showback:
    return expected_showback(lines, cfg.showback.shared_costs)


def test_showback_per_team_and_month_equals_an_independent_allocation_to_the_cent(built_warehouse, showback):
    mart = {(m, t, c): (own, out, direct, alloc, total, n) for m, t, c, own, out, direct, alloc, total, n in fetch(
        built_warehouse.url, """
        SELECT charge_month, team, billing_currency, own_effective_cost, shared_out_cost, direct_effective_cost,
               allocated_shared_cost, total_cost, own_line_item_count
        FROM marts.fct_showback_monthly""")}
    assert set(mart) == set(showback.teams)
    for key, (own, shared_out, allocated) in showback.teams.items():
        got = mart[key]
        assert [cents(v) for v in got[:5]] == \
               [cents(v) for v in (own, shared_out, own - shared_out, allocated, own - shared_out + allocated)], key
    # the demo's teams plus the untagged bucket, whose lines are all pooled by the `untagged` rule
    assert {t for _, t, _ in mart} == {*TEAMS, "untagged"}
    assert all(total == 0 and own > 0 for (_, t, _), (own, _, _, _, total, _) in mart.items() if t == "untagged")


def test_allocated_totals_equal_the_original_total_exactly(built_warehouse, lines):
    """Per month and currency: sum of total_cost = sum of the raw lines' effective cost, to the last decimal."""
    raw: dict = defaultdict(Decimal)
    for line in lines:
        raw[(line.month, line.currency)] += line.effective
    mart = dict(((m, c), total) for m, c, total in fetch(built_warehouse.url, """
        SELECT charge_month, billing_currency, sum(total_cost) FROM marts.fct_showback_monthly GROUP BY 1, 2"""))
    assert mart == dict(raw)
    assert sorted(m for m, _ in mart) == [date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1)]


def test_allocation_detail_per_rule_and_team(built_warehouse, showback, cfg):
    rows = fetch(built_warehouse.url, """
        SELECT rule_id, charge_month, billing_currency, team, rule_order, allocation_method, shared_cost,
               allocated_cost, is_unallocated
        FROM marts.fct_showback_allocations_monthly""")
    mart = {(r, m, c, t): (order, method, shared, alloc, unallocated)
            for r, m, c, t, order, method, shared, alloc, unallocated in rows}
    assert set(mart) == set(showback.allocations)
    order = {rule.id: i for i, rule in enumerate(cfg.showback.shared_costs, start=1)}
    methods = {rule.id: rule.method for rule in cfg.showback.shared_costs}
    for key, amount in showback.allocations.items():
        rule_order, method, shared, allocated, unallocated = mart[key]
        assert (rule_order, method, unallocated) == (order[key[0]], methods[key[0]], key[3] == UNALLOCATED), key
        assert cents(shared) == cents(showback.pools[key[:3]]), key
        assert cents(allocated) == cents(amount), key
    # every pool is split exactly: the allocations add up to the pool, to the last decimal
    pools: dict = defaultdict(Decimal)
    for (rule_id, month, currency, _team), (_o, _m, shared, allocated, _u) in mart.items():
        pools[(rule_id, month, currency)] += allocated
        assert shared == showback.pools[(rule_id, month, currency)]
    assert pools == showback.pools
    # the demo: both rules pool cost every month; every team with direct cost receives; nothing is unallocated
    assert {r for r, *_ in mart} == {"platform-shared", "untagged"}
    assert not any(unallocated for *_, unallocated in mart.values())


def test_overlapping_rules_first_in_config_order_wins(lines, cfg, showback):
    """Untagged lines in the prod-platform account are in both rules' scope: they belong to `platform-shared`
    (first in config order) only, so each line is shared once."""
    platform, untagged = cfg.showback.shared_costs
    assert (platform.id, untagged.id) == ("platform-shared", "untagged")
    overlap = [ln for ln in lines if in_scope(platform.scope, ln) and in_scope(untagged.scope, ln)]
    assert overlap and all(ln.sub_account_id == SAVINGS_PLAN_SUB_ACCOUNT for ln in overlap)
    for month in {ln.month for ln in lines}:
        in_platform = sum((ln.effective for ln in lines if ln.month == month and in_scope(platform.scope, ln)),
                          Decimal(0))
        only_untagged = sum((ln.effective for ln in lines if ln.month == month and in_scope(untagged.scope, ln)
                             and not in_scope(platform.scope, ln)), Decimal(0))
        assert showback.pools[("platform-shared", month, "USD")] == in_platform
        assert showback.pools[("untagged", month, "USD")] == only_untagged


def test_cost_monthly_equals_cost_daily_per_month_and_the_raw_lines(built_warehouse, lines):
    dims = "provider_name, billing_account_id, sub_account_id, service_name, region_id, team, environment, " \
           "billing_currency"
    daily: dict = defaultdict(lambda: [Decimal(0), Decimal(0), None, None, 0])
    for day, *rest in fetch(built_warehouse.url, f"""
            SELECT charge_date, {dims}, billed_cost, effective_cost, list_cost, contracted_cost, line_item_count
            FROM marts.fct_cost_daily"""):
        key, (billed, effective, list_cost, contracted, count) = (day.replace(day=1), *rest[:8]), rest[8:]
        acc = daily[key]
        acc[0] += billed
        acc[1] += effective
        acc[2] = list_cost if acc[2] is None else acc[2] + (list_cost or 0)
        acc[3] = contracted if acc[3] is None else acc[3] + (contracted or 0)
        acc[4] += count
    monthly = {(m, *rest[:8]): list(rest[8:]) for m, *rest in fetch(built_warehouse.url, f"""
        SELECT charge_month, {dims}, billed_cost, effective_cost, list_cost, contracted_cost, line_item_count
        FROM marts.fct_cost_monthly""")}
    assert monthly == dict(daily)
    # and per month x provider x team against the raw lines, to the cent
    raw: dict = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for line in lines:
        acc = raw[(line.month, line.provider, line.team)]
        acc[0] += line.billed
        acc[1] += line.effective
    mart: dict = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for (month, provider, *_rest), (billed, effective, *_) in monthly.items():
        team = _rest[4]
        mart[(month, provider, team)][0] += billed
        mart[(month, provider, team)][1] += effective
    assert {k: [cents(v) for v in vs] for k, vs in mart.items()} == \
           {k: [cents(v) for v in vs] for k, vs in raw.items()}


# --- commitments ----------------------------------------------------------------------------------------------------

def test_commitment_daily_equals_the_raw_savings_plan_lines(built_warehouse, lines):
    expected: dict = {}
    for line in lines:
        if line.commitment_id is None:
            continue
        acc = expected.setdefault((line.day, line.provider, line.billing_account_id, line.commitment_id),
                                  {"purchase": Decimal(0), "used": Decimal(0), "unused": Decimal(0),
                                   "list": None, "contracted": None})
        if line.charge_category == "Purchase":
            acc["purchase"] += line.billed
        elif line.charge_category == "Usage" and line.commitment_status == "Unused":
            acc["unused"] += line.effective
        elif line.charge_category == "Usage":
            acc["used"] += line.effective
            acc["list"] = (acc["list"] or 0) + line.list_cost
            acc["contracted"] = (acc["contracted"] or 0) + line.contracted
    rows = fetch(built_warehouse.url, """
        SELECT charge_date, provider_name, billing_account_id, commitment_discount_id, purchase_billed_cost,
               used_effective_cost, unused_effective_cost, utilisation_pct, covered_list_cost, covered_contracted_cost,
               savings_vs_list_cost, savings_vs_contracted_cost, net_savings_vs_list_cost
        FROM marts.fct_commitment_daily""")
    mart = {tuple(r[:4]): r[4:] for r in rows}
    assert set(mart) == set(expected)
    for key, e in expected.items():
        savings = None if e["list"] is None else e["list"] - e["used"]
        want = (e["purchase"], e["used"], e["unused"], pct(e["used"], e["used"] + e["unused"]), e["list"],
                e["contracted"], savings, None if e["contracted"] is None else e["contracted"] - e["used"],
                None if savings is None else savings - e["unused"])
        assert [cents(v) for v in mart[key]] == [cents(v) for v in want], key
    # The demo's one Savings Plan: October (wholly in the window) is bought and amortised exactly once; the demo
    # spreads the whole fee over the covered EC2 usage, so there are no Unused lines and utilisation is 100 %.
    october = [v for k, v in mart.items() if k[0].month == 10]
    assert {k[3] for k in mart} == {SAVINGS_PLAN_ID}
    fee = Decimal(SAVINGS_PLAN_MONTHLY_MICRO).scaleb(-6)
    assert sum(v[0] for v in october) == fee and sum(v[1] for v in october) == fee
    assert {v[3] for v in mart.values() if v[1]} == {Decimal("100.00")}


def test_commitment_coverage_equals_the_raw_eligible_usage(built_warehouse, lines):
    def kind(line: Line) -> str | None:
        if line.charge_category != "Usage" or line.commitment_status == "Unused":
            return None
        if line.commitment_id is not None or line.pricing_category == "Committed":
            return "covered"
        return "on_demand" if line.pricing_category in (None, "Standard") else None

    eligible = {(ln.month, ln.provider, ln.billing_account_id, ln.service) for ln in lines if kind(ln) == "covered"}
    expected: dict = defaultdict(lambda: {"covered": Decimal(0), "on_demand": Decimal(0)})
    for line in lines:
        k = kind(line)
        if k and (line.month, line.provider, line.billing_account_id, line.service) in eligible:
            key = (line.day, line.provider, line.billing_account_id, line.sub_account_id or "n/a", line.service)
            expected[key][k] += line.list_cost or 0
    mart = {tuple(r[:5]): r[5:] for r in fetch(built_warehouse.url, """
        SELECT charge_date, provider_name, billing_account_id, sub_account_id, service_name, covered_list_cost,
               on_demand_list_cost, coverage_pct
        FROM marts.fct_commitment_coverage_daily""")}
    assert set(mart) == set(expected)
    for key, e in expected.items():
        covered, on_demand, coverage = mart[key]
        assert (cents(covered), cents(on_demand), coverage) == \
               (cents(e["covered"]), cents(e["on_demand"]), pct(e["covered"], e["covered"] + e["on_demand"])), key
    # The Savings Plan covers EC2 in the prod-platform account only; EC2 in the other linked accounts of the same
    # payer (incl. the GPU cluster nodes) is eligible and on demand, so October coverage is far from 100 %.
    october = [v for k, v in mart.items() if k[0].month == 10]
    covered = sum(v[0] for v in october)
    month_pct = pct(covered, covered + sum(v[1] for v in october))
    assert Decimal(5) < month_pct < Decimal(50)
