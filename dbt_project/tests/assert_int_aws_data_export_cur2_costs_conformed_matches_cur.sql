-- The CUR 2.0 money identities, per source and billing period, recomputed from staging:
--   1. billed: sum(billed_cost) = sum(line_item_unblended_cost) - what AWS invoices (covered Savings Plan usage and
--      its negation are both 0 in the model, and cancel each other in CUR);
--   2. effective: sum(effective_cost) = AWS's amortised cost (the Cloud Intelligence Dashboards formula, written
--      here independently of the model), the unused commitment included.
-- A period on one side only fails too. Returns every offending row.
with

cur as (
    select
        source_id,
        bill_billing_period_start_date as billing_period_start,
        sum(line_item_unblended_cost) as unblended_cost,
        sum(
            case
                when line_item_line_item_type = 'SavingsPlanCoveredUsage' then savings_plan_savings_plan_effective_cost
                when line_item_line_item_type = 'SavingsPlanRecurringFee'
                    then savings_plan_total_commitment_to_date - savings_plan_used_commitment
                when line_item_line_item_type in ('SavingsPlanNegation', 'SavingsPlanUpfrontFee') then 0
                when line_item_line_item_type = 'DiscountedUsage' then reservation_effective_cost
                when line_item_line_item_type = 'RIFee'
                    then
                        coalesce(reservation_unused_amortized_upfront_fee_for_billing_period, 0)
                        + coalesce(reservation_unused_recurring_fee, 0)
                when line_item_line_item_type = 'Fee' and coalesce(reservation_reservation_a_r_n, '') <> '' then 0
                else line_item_unblended_cost
            end
        ) as amortised_cost
    from {{ ref('stg_aws_data_export__cur2_line_items') }}
    group by source_id, bill_billing_period_start_date
),

conformed as (
    select
        source_id,
        billing_period_start,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost
    from {{ ref('int_aws_data_export_cur2_costs_conformed') }}
    group by source_id, billing_period_start
)

select
    coalesce(cur.source_id, conformed.source_id) as source_id,
    coalesce(cur.billing_period_start, conformed.billing_period_start) as billing_period_start,
    cur.unblended_cost,
    conformed.billed_cost,
    cur.amortised_cost,
    conformed.effective_cost
from cur
full outer join conformed
    on
        cur.source_id = conformed.source_id
        and cur.billing_period_start = conformed.billing_period_start
where
    cur.source_id is null
    or conformed.source_id is null
    or cur.unblended_cost <> conformed.billed_cost
    or cur.amortised_cost <> conformed.effective_cost
