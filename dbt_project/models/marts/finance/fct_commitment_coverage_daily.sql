-- Commitment-discount coverage: how much of the usage that commitments could cover they did cover, per day.
-- Grain: charge_date x provider_name x billing_account_id x sub_account_id x service_name x billing_currency
-- (service_category depends on service_name; sub_account_id 'n/a' when the line has none).
--
-- Usage lines only (charge_category 'Usage'):
--   covered   - commitment_discount_id set or pricing_category 'Committed', status not 'Unused' (Unused lines are
--               the commitment's waste, not usage: see fct_commitment_daily)
--   on demand - no commitment, pricing_category 'Standard' or NULL (spot / 'Dynamic' and 'Other' prices are not
--               eligible for commitment discounts and are left out)
-- Eligible = the services a commitment actually covered in that provider, billing account and calendar month:
-- a commitment applies across the billing account's sub accounts (an AWS Savings Plan across linked accounts), so
-- on-demand usage of such a service in any sub account of the account counts as uncovered eligible usage. Services
-- no commitment touched that month are not in the mart.
-- coverage_pct = covered / (covered + on demand) at list cost (the on-demand equivalent, so the commitment's
-- discount does not shrink the covered side) x 100, 2 decimals; NULL when the eligible list cost is 0 or unknown.
-- Effective-cost columns are there for spend views; covered_effective_cost ties to fct_commitment_daily.
with

usage_lines as (
    select
        charge_date,
        cast(date_trunc('month', charge_date) as date) as charge_month,
        provider_name,
        billing_account_id,
        coalesce(sub_account_id, 'n/a') as sub_account_id,
        service_name,
        service_category,
        billing_currency,
        effective_cost,
        list_cost,
        case
            when commitment_discount_status = 'Unused' then null
            when commitment_discount_id is not null or pricing_category = 'Committed' then 'covered'
            when pricing_category is null or pricing_category = 'Standard' then 'on_demand'
        end as coverage_kind
    from {{ ref('int_focus_costs') }}
    where charge_category = 'Usage'
),

eligible_services as (
    select distinct
        charge_month,
        provider_name,
        billing_account_id,
        service_name
    from usage_lines
    where coverage_kind = 'covered'
),

eligible_lines as (
    select usage_lines.*
    from usage_lines
    inner join eligible_services
        on
            usage_lines.charge_month = eligible_services.charge_month
            and usage_lines.provider_name = eligible_services.provider_name
            and usage_lines.billing_account_id = eligible_services.billing_account_id
            and usage_lines.service_name = eligible_services.service_name
    where usage_lines.coverage_kind is not null
),

aggregated as (
    select
        charge_date,
        provider_name,
        billing_account_id,
        sub_account_id,
        service_name,
        service_category,
        billing_currency,
        coalesce(sum(list_cost) filter (where coverage_kind = 'covered'), 0) as covered_list_cost,
        coalesce(sum(list_cost) filter (where coverage_kind = 'on_demand'), 0) as on_demand_list_cost,
        coalesce(sum(effective_cost) filter (where coverage_kind = 'covered'), 0) as covered_effective_cost,
        coalesce(sum(effective_cost) filter (where coverage_kind = 'on_demand'), 0) as on_demand_effective_cost,
        count(*) filter (where coverage_kind = 'covered') as covered_line_count,
        count(*) filter (where coverage_kind = 'on_demand') as on_demand_line_count
    from eligible_lines
    group by
        charge_date,
        provider_name,
        billing_account_id,
        sub_account_id,
        service_name,
        service_category,
        billing_currency
),

final as (
    select
        charge_date,
        provider_name,
        billing_account_id,
        sub_account_id,
        service_name,
        service_category,
        billing_currency,
        covered_list_cost,
        on_demand_list_cost,
        covered_list_cost + on_demand_list_cost as eligible_list_cost,
        round(100 * covered_list_cost / nullif(covered_list_cost + on_demand_list_cost, 0), 2) as coverage_pct,
        covered_effective_cost,
        on_demand_effective_cost,
        covered_line_count,
        on_demand_line_count
    from aggregated
)

select * from final
