-- MongoDB Atlas invoice line items as FOCUS cost lines (collectors/sources/mongodb_atlas.py), latest load wins.
-- Grain: source_id x invoice_id x line_number (a load replaces whole months, so within a month every row comes
-- from one load; the rank only matters while two loads of a month overlap in raw, which the loader's lock
-- prevents).
-- Billed = (totalPriceCents - discountCents) / 100: what Atlas invoices for the line, the cluster priced as a whole
-- (never a list price x the replication factor); list = totalPriceCents / 100 (unit price x quantity).
with

source as (
    select * from {{ source('mongodb_atlas', 'mongodb_atlas_line_items') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by _source_id, invoice_id, line_number
            order by _loaded_at desc, _batch_id desc
        ) as load_rank
    from source
),

latest as (
    select * from ranked
    where load_rank = 1
),

renamed as (
    select
        {{ surrogate_key(['_source_id', 'invoice_id', 'line_number']) }} as cost_line_key,
        cast(_source_id as text) as source_id,

        cast(start_date as timestamptz) as charge_period_start,
        cast(end_date as timestamptz) as charge_period_end,
        date_trunc('month', start_date at time zone 'UTC') at time zone 'UTC' as billing_period_start,
        (date_trunc('month', start_date at time zone 'UTC') + interval '1 month') at time zone 'UTC'
            as billing_period_end,

        cast('MongoDB' as text) as provider_name,
        cast('MongoDB' as text) as publisher_name,
        cast('MongoDB' as text) as invoice_issuer_name,
        cast(org_id as text) as billing_account_id,
        cast(null as text) as billing_account_name,
        cast(group_id as text) as sub_account_id,
        cast(group_name as text) as sub_account_name,

        case
            when sku like '%DATA_TRANSFER%' or sku like '%PRIVATE_ENDPOINT%' then 'MongoDB Atlas Data Transfer'
            when sku like '%BACKUP%' or sku like '%SNAPSHOT%' or sku like '%STORAGE%' then 'MongoDB Atlas Backup'
            when sku like '%SUPPORT%' then 'MongoDB Atlas Support'
            else 'MongoDB Atlas'
        end as service_name,
        case
            when sku like '%DATA_TRANSFER%' or sku like '%PRIVATE_ENDPOINT%' then 'Networking'
            when sku like '%BACKUP%' or sku like '%SNAPSHOT%' or sku like '%STORAGE%' then 'Storage'
            when sku like '%SUPPORT%' then 'Other'
            else 'Databases'
        end as service_category,
        cast(null as text) as region_id,
        cast(null as text) as region_name,
        cast(coalesce(cluster_name, stitch_app_name) as text) as resource_id,
        cast(coalesce(cluster_name, stitch_app_name) as text) as resource_name,
        cast(sku as text) as sku_id,

        cast('Usage' as text) as charge_category,
        cast(null as text) as charge_class,
        sku || ' (' || coalesce(unit, 'units') || ')' as charge_description,
        cast('Usage-Based' as text) as charge_frequency,
        cast('Standard' as text) as pricing_category,

        cast(quantity as numeric) as pricing_quantity,
        cast(unit as text) as pricing_unit,
        cast(unit_price_dollars as numeric) as list_unit_price,
        cast(unit_price_dollars as numeric) as contracted_unit_price,
        (total_price_cents - coalesce(discount_cents, 0)) / 100 as billed_cost,
        (total_price_cents - coalesce(discount_cents, 0)) / 100 as effective_cost,
        total_price_cents / 100 as list_cost,
        (total_price_cents - coalesce(discount_cents, 0)) / 100 as contracted_cost,
        cast('USD' as text) as billing_currency,

        cast(null as text) as commitment_discount_id,
        cast(null as text) as commitment_discount_type,
        cast(null as text) as commitment_discount_category,
        cast(null as text) as commitment_discount_status,

        coalesce(cast(tags as jsonb), cast('{}' as jsonb)) as tags,

        -- beyond the FOCUS columns (the union selects those by name): the invoice, for the list-price fallback of
        -- int_mongodb_atlas_costs_conformed (a month whose invoice is no longer PENDING is never estimated)
        cast(invoice_id as text) as invoice_id,
        cast(invoice_status as text) as invoice_status
    from latest
)

select * from renamed
