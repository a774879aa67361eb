-- The precedence rule holds: no provider x sub account x billing period has both line items (exports, FOCUS
-- files) and API aggregates (Cost Explorer, Azure Query API) in int_focus_costs - that would count the same
-- spend twice. Returns every offending provider, sub account and period.
select
    provider_name,
    lower(regexp_replace(coalesce(sub_account_id, ''), '^/subscriptions/', '', 'i')) as sub_account,
    billing_period_start,
    count(distinct cost_grain) as grains
from {{ ref('int_focus_costs') }}
group by provider_name, sub_account, billing_period_start
having count(distinct cost_grain) > 1
