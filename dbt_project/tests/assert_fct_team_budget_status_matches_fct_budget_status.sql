-- Every fct_team_budget_status row carries exactly its budget period's fct_budget_status figures, and every period of
-- a budget whose scope lists teams appears once per listed team. Returns the rows that differ or are missing.
with

budget_teams as (
    select distinct
        budgets.budget_id,
        lower(trim(scope_team.team)) as team
    from {{ ref('stg_config__budgets') }} as budgets
    cross join lateral unnest(budgets.scope_teams) as scope_team (team)
),

expected as (
    select
        budget_teams.team,
        budget_status.*
    from {{ ref('fct_budget_status') }} as budget_status
    inner join budget_teams
        on budget_status.budget_id = budget_teams.budget_id
)

select
    coalesce(expected.budget_id, team_status.budget_id) as budget_id,
    coalesce(expected.period_start, team_status.period_start) as period_start,
    coalesce(expected.team, team_status.team) as team
from expected
full outer join {{ ref('fct_team_budget_status') }} as team_status
    on
        expected.budget_id = team_status.budget_id
        and expected.period_start = team_status.period_start
        and expected.team = team_status.team
where
    expected.budget_id is null
    or team_status.budget_id is null
    or (
        expected.budget_name, expected.period, expected.period_end, expected.billing_currency,
        expected.budget_amount, expected.actual_cost, expected.utilisation_pct, expected.forecast_cost,
        expected.forecast_utilisation_pct, expected.status, expected.is_period_closed, expected.as_of_date,
        expected.is_within_budget
    ) is distinct from (
        team_status.budget_name, team_status.period, team_status.period_end, team_status.billing_currency,
        team_status.budget_amount, team_status.actual_cost, team_status.utilisation_pct, team_status.forecast_cost,
        team_status.forecast_utilisation_pct, team_status.status, team_status.is_period_closed,
        team_status.as_of_date, team_status.is_within_budget
    )
