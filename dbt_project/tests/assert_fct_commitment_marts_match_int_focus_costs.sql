-- Money identities of the commitment marts, recomputed from int_focus_costs:
--   1. fct_commitment_daily: per day, provider and currency, billed and effective cost = those of every line with
--      a commitment_discount_id; used + unused effective cost = the Usage lines with an id;
--   2. fct_commitment_coverage_daily: per day, provider and currency, covered_effective_cost = the effective cost
--      of the covered Usage lines (an id or pricing_category 'Committed', status not 'Unused'), which are all in
--      eligible services by definition; and it ties to fct_commitment_daily.used_effective_cost where every
--      covered line has an id.
-- A group on one side only fails too. Returns every offending row.
with

commitment_lines as (
    select
        charge_date,
        provider_name,
        billing_currency,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost,
        coalesce(sum(effective_cost) filter (where charge_category = 'Usage'), 0) as usage_effective_cost
    from {{ ref('int_focus_costs') }}
    where commitment_discount_id is not null
    group by charge_date, provider_name, billing_currency
),

commitment_mart as (
    select
        charge_date,
        provider_name,
        billing_currency,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost,
        sum(used_effective_cost + unused_effective_cost) as usage_effective_cost,
        sum(used_effective_cost) as used_effective_cost
    from {{ ref('fct_commitment_daily') }}
    group by charge_date, provider_name, billing_currency
),

covered_lines as (
    select
        charge_date,
        provider_name,
        billing_currency,
        sum(effective_cost) as covered_effective_cost,
        bool_and(commitment_discount_id is not null) as every_line_has_an_id
    from {{ ref('int_focus_costs') }}
    where
        charge_category = 'Usage'
        and (commitment_discount_id is not null or pricing_category = 'Committed')
        and commitment_discount_status is distinct from 'Unused'
    group by charge_date, provider_name, billing_currency
),

coverage_mart as (
    select
        charge_date,
        provider_name,
        billing_currency,
        sum(covered_effective_cost) as covered_effective_cost
    from {{ ref('fct_commitment_coverage_daily') }}
    where covered_line_count > 0
    group by charge_date, provider_name, billing_currency
),

commitment_mismatches as (
    select
        'fct_commitment_daily' as failure,
        coalesce(commitment_mart.charge_date, commitment_lines.charge_date) as charge_date,
        coalesce(commitment_mart.provider_name, commitment_lines.provider_name) as provider_name,
        commitment_mart.effective_cost as mart_amount,
        commitment_lines.effective_cost as expected_amount
    from commitment_mart
    full outer join commitment_lines
        on
            commitment_mart.charge_date = commitment_lines.charge_date
            and commitment_mart.provider_name = commitment_lines.provider_name
            and commitment_mart.billing_currency = commitment_lines.billing_currency
    where
        commitment_mart.charge_date is null
        or commitment_lines.charge_date is null
        or commitment_mart.billed_cost != commitment_lines.billed_cost
        or commitment_mart.effective_cost != commitment_lines.effective_cost
        or commitment_mart.usage_effective_cost != commitment_lines.usage_effective_cost
),

coverage_mismatches as (
    select
        'fct_commitment_coverage_daily' as failure,
        coalesce(coverage_mart.charge_date, covered_lines.charge_date) as charge_date,
        coalesce(coverage_mart.provider_name, covered_lines.provider_name) as provider_name,
        coverage_mart.covered_effective_cost as mart_amount,
        covered_lines.covered_effective_cost as expected_amount
    from coverage_mart
    full outer join covered_lines
        on
            coverage_mart.charge_date = covered_lines.charge_date
            and coverage_mart.provider_name = covered_lines.provider_name
            and coverage_mart.billing_currency = covered_lines.billing_currency
    left join commitment_mart
        on
            covered_lines.charge_date = commitment_mart.charge_date
            and covered_lines.provider_name = commitment_mart.provider_name
            and covered_lines.billing_currency = commitment_mart.billing_currency
    where
        coverage_mart.charge_date is null
        or covered_lines.charge_date is null
        or coverage_mart.covered_effective_cost != covered_lines.covered_effective_cost
        or (
            covered_lines.every_line_has_an_id
            and coverage_mart.covered_effective_cost != coalesce(commitment_mart.used_effective_cost, 0)
        )
)

select * from commitment_mismatches
union all
select * from coverage_mismatches
