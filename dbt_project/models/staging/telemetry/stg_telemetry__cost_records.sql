-- Costs pushed by agents, conformed to the FOCUS cost columns (the staging model conforms: a pushed record is one
-- cost line). An agent re-sends what it read for the days it covers, so for each agent, provider and UTC charge day
-- the records of the latest batch that has that day replace the earlier ones (as a collector's load replaces its
-- window): nothing is counted twice when an agent re-pushes a look-back window.
-- Grain: one row per pushed record kept (agent_id x batch_id x record_index).
with

source as (
    select
        *,
        cast(charge_period_start at time zone 'UTC' as date) as charge_date
    from {{ source('telemetry', 'telemetry_cost_records') }}
),

latest_batch_per_day as (
    select distinct on (_agent_id, provider_name, charge_date)
        _agent_id,
        provider_name,
        charge_date,
        _batch_id
    from source
    order by _agent_id asc, provider_name asc, charge_date asc, _received_at desc, _batch_id desc
),

kept as (
    select source.*
    from source
    inner join latest_batch_per_day as latest
        on
            source._agent_id = latest._agent_id
            and source.provider_name = latest.provider_name
            and source.charge_date = latest.charge_date
            and source._batch_id = latest._batch_id
),

renamed as (
    select
        {{ surrogate_key(['_agent_id', '_batch_id', '_record_index']) }} as cost_line_key,
        cast('agent:' || _agent_id as text) as source_id,

        cast(charge_period_start as timestamptz) as charge_period_start,
        cast(coalesce(charge_period_end, cast(charge_date + 1 as timestamp) at time zone 'UTC') as timestamptz)
            as charge_period_end,
        cast(date_trunc('month', charge_date) as timestamp) at time zone 'UTC' as billing_period_start,
        cast(date_trunc('month', charge_date) + interval '1 month' as timestamp) at time zone 'UTC'
            as billing_period_end,

        cast(provider_name as text) as provider_name,
        cast(provider_name as text) as publisher_name,
        cast(provider_name as text) as invoice_issuer_name,
        cast(coalesce(account_id, 'agent:' || _agent_id) as text) as billing_account_id,
        cast(null as text) as billing_account_name,
        cast(account_id as text) as sub_account_id,
        cast(null as text) as sub_account_name,

        cast(service_name as text) as service_name,
        cast(coalesce(service_category, 'Other') as text) as service_category,
        cast(region as text) as region_id,
        cast(region as text) as region_name,
        cast(resource_id as text) as resource_id,
        cast(resource_id as text) as resource_name,
        cast(null as text) as sku_id,

        cast(coalesce(charge_category, case when cost < 0 then 'Credit' else 'Usage' end) as text)
            as charge_category,
        cast(null as text) as charge_class,
        cast('Pushed by agent ' || _agent_id as text) as charge_description,
        cast('Usage-Based' as text) as charge_frequency,
        cast('Standard' as text) as pricing_category,

        cast(usage_quantity as numeric) as pricing_quantity,
        cast(usage_unit as text) as pricing_unit,
        cast(null as numeric) as list_unit_price,
        cast(null as numeric) as contracted_unit_price,
        cast(cost as numeric) as billed_cost,
        cast(cost as numeric) as effective_cost,
        cast(cost as numeric) as list_cost,
        cast(cost as numeric) as contracted_cost,
        cast(currency as text) as billing_currency,

        cast(null as text) as commitment_discount_id,
        cast(null as text) as commitment_discount_type,
        cast(null as text) as commitment_discount_category,
        cast(null as text) as commitment_discount_status,

        coalesce(cast(tags as jsonb), cast('{}' as jsonb)) as tags
    from kept
)

select * from renamed
