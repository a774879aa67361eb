-- Commitment discounts (Savings Plans, Reserved Instances / Reservations, Committed Use Discounts) per day:
-- what each commitment cost, how much of it was used, and what it saved. From the FOCUS commitment_discount_*
-- columns of int_focus_costs; only lines with a commitment_discount_id.
-- Grain: charge_date x provider_name x billing_account_id x commitment_discount_id x billing_currency
-- (commitment_discount_type / _category are attributes of the commitment).
--
-- Line kinds (FOCUS 1.2):
--   purchase - charge_category 'Purchase': the commitment's fee as invoiced (billed; its effective cost is 0 when
--              the fee is amortised into the usage it covers)
--   used     - charge_category 'Usage', commitment_discount_status 'Used' (or NULL): usage the commitment covered;
--              its effective_cost is the amortised commitment cost it consumed
--   unused   - charge_category 'Usage', commitment_discount_status 'Unused': the commitment's amortised cost that
--              nothing used that period (waste)
--   other    - anything else carrying the id (credits, taxes, adjustments): only in the row totals
-- utilisation_pct = used / (used + unused) amortised (effective) cost x 100, 2 decimals; NULL with neither.
--   Cost-based because int_focus_costs carries no CommitmentDiscountQuantity; with FOCUS data the Unused lines
--   make it meaningful (the FOCUS samples: ~70 %). Where a source amortises the whole fee over the covered usage
--   and never emits Unused lines (the demo's Savings Plan) it is 100 % by construction.
-- savings_vs_list_cost = list_cost - effective_cost of the used lines (FOCUS: savings = ListCost - EffectiveCost);
--   savings_vs_contracted_cost the same against the negotiated price; net_savings_vs_list_cost subtracts the
--   unused commitment cost. A negative figure means the commitment cost more than list price for what it covered.
with

commitment_lines as (
    select
        charge_date,
        provider_name,
        billing_account_id,
        commitment_discount_id,
        billing_currency,
        commitment_discount_type,
        commitment_discount_category,
        billed_cost,
        effective_cost,
        list_cost,
        contracted_cost,
        case
            when charge_category = 'Purchase' then 'purchase'
            when charge_category = 'Usage' and commitment_discount_status = 'Unused' then 'unused'
            when charge_category = 'Usage' then 'used'
            else 'other'
        end as line_kind
    from {{ ref('int_focus_costs') }}
    where commitment_discount_id is not null
),

aggregated as (
    select
        charge_date,
        provider_name,
        billing_account_id,
        commitment_discount_id,
        billing_currency,
        max(commitment_discount_type) as commitment_discount_type,
        max(commitment_discount_category) as commitment_discount_category,
        coalesce(sum(billed_cost) filter (where line_kind = 'purchase'), 0) as purchase_billed_cost,
        coalesce(sum(effective_cost) filter (where line_kind = 'used'), 0) as used_effective_cost,
        coalesce(sum(effective_cost) filter (where line_kind = 'unused'), 0) as unused_effective_cost,
        sum(list_cost) filter (where line_kind = 'used') as covered_list_cost,
        sum(contracted_cost) filter (where line_kind = 'used') as covered_contracted_cost,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost,
        count(*) filter (where line_kind = 'used') as used_line_count,
        count(*) filter (where line_kind = 'unused') as unused_line_count,
        count(*) filter (where line_kind = 'purchase') as purchase_line_count,
        count(*) as line_item_count
    from commitment_lines
    group by charge_date, provider_name, billing_account_id, commitment_discount_id, billing_currency
),

final as (
    select
        charge_date,
        provider_name,
        billing_account_id,
        commitment_discount_id,
        billing_currency,
        commitment_discount_type,
        commitment_discount_category,
        purchase_billed_cost,
        used_effective_cost,
        unused_effective_cost,
        used_effective_cost + unused_effective_cost as amortised_commitment_cost,
        round(100 * used_effective_cost / nullif(used_effective_cost + unused_effective_cost, 0), 2)
            as utilisation_pct,
        covered_list_cost,
        covered_contracted_cost,
        covered_list_cost - used_effective_cost as savings_vs_list_cost,
        covered_contracted_cost - used_effective_cost as savings_vs_contracted_cost,
        covered_list_cost - used_effective_cost - unused_effective_cost as net_savings_vs_list_cost,
        billed_cost,
        effective_cost,
        used_line_count,
        unused_line_count,
        purchase_line_count,
        line_item_count
    from aggregated
)

select * from final
