-- Budget status per team: every budget whose scope lists teams, once per listed team (team dashboards, filtered by
-- Superset's row-level security on team).
-- Grain: budget_id x period_start x team. The figures are the budget's (fct_budget_status, the same values): a
-- budget over several teams is not split between them - team_count says how many teams share it.
-- is_within_budget (budget adherence) is fct_budget_status's.
with

budget_status as (
    select * from {{ ref('fct_budget_status') }}
),

budget_teams as (
    select distinct
        budgets.budget_id,
        scope_team.team
    from {{ ref('stg_config__budgets') }} as budgets
    cross join lateral unnest(budgets.scope_teams) as scope_team (team)
    where budgets.scope_teams is not null
),

team_counts as (
    select
        budget_id,
        count(*) as team_count
    from budget_teams
    group by budget_id
),

teams as (
    select
        team_id,
        team_name
    from {{ ref('stg_config__teams') }}
),

final as (
    select
        {{ surrogate_key(['budget_status.budget_id', 'budget_status.period_start', 'budget_teams.team']) }}
            as team_budget_key,
        budget_teams.team,
        teams.team_name,
        budget_status.budget_id,
        budget_status.budget_name,
        budget_status.period,
        budget_status.period_start,
        budget_status.period_end,
        budget_status.billing_currency,
        budget_status.budget_amount,
        budget_status.actual_cost,
        budget_status.utilisation_pct,
        budget_status.forecast_cost,
        budget_status.forecast_utilisation_pct,
        budget_status.status,
        budget_status.is_period_closed,
        budget_status.as_of_date,
        budget_status.is_within_budget,
        cast(team_counts.team_count as integer) as team_count
    from budget_status
    inner join budget_teams
        on budget_status.budget_id = budget_teams.budget_id
    inner join team_counts
        on budget_status.budget_id = team_counts.budget_id
    left join teams
        on budget_teams.team = teams.team_id
)

select * from final
