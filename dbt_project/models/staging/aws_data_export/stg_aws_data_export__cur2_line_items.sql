-- AWS Data Exports CUR 2.0 line items as loaded (collectors/sources/_aws_data_export_cur2.py): renamed (load
-- metadata without the underscore) and cast, nothing else; CUR 2.0 column names are kept (analysts know them
-- from the table dictionary).
-- Grain: one row per source_id x bill_billing_period_start_date x source_file x source_line. A load replaces whole
-- billing periods, so within one period every row comes from one load and (file, line) is unique; the billing
-- period is part of the key because a file rewritten in place may reuse a line number for another period.
with

source as (
    select * from {{ source('aws_data_export', 'aws_data_export_cur2_line_items') }}
),

renamed as (
    select
        -- keys and lineage
        {{ surrogate_key(['_source_id', 'bill_billing_period_start_date', 'source_file', 'source_line']) }}
            as cost_line_key,
        cast(_source_id as text) as source_id,
        cast(source_file as text) as source_file,
        cast(source_line as bigint) as source_line,
        cast(identity_line_item_id as text) as identity_line_item_id,
        cast(identity_time_interval as text) as identity_time_interval,

        -- bill: who pays, which invoice, which billing period (UTC, [start, end))
        cast(bill_payer_account_id as text) as bill_payer_account_id,
        cast(bill_payer_account_name as text) as bill_payer_account_name,
        cast(bill_invoice_id as text) as bill_invoice_id,
        cast(bill_bill_type as text) as bill_bill_type,
        cast(bill_billing_entity as text) as bill_billing_entity,
        cast(bill_invoicing_entity as text) as bill_invoicing_entity,
        cast(bill_billing_period_start_date as timestamptz) as bill_billing_period_start_date,
        cast(bill_billing_period_end_date as timestamptz) as bill_billing_period_end_date,

        -- line item: account, type, time, what
        cast(line_item_usage_account_id as text) as line_item_usage_account_id,
        cast(line_item_usage_account_name as text) as line_item_usage_account_name,
        cast(line_item_line_item_type as text) as line_item_line_item_type,
        cast(line_item_usage_start_date as timestamptz) as line_item_usage_start_date,
        cast(line_item_usage_end_date as timestamptz) as line_item_usage_end_date,
        cast(line_item_product_code as text) as line_item_product_code,
        cast(line_item_usage_type as text) as line_item_usage_type,
        cast(line_item_operation as text) as line_item_operation,
        cast(line_item_resource_id as text) as line_item_resource_id,
        cast(line_item_availability_zone as text) as line_item_availability_zone,
        cast(line_item_legal_entity as text) as line_item_legal_entity,
        cast(line_item_line_item_description as text) as line_item_line_item_description,
        cast(line_item_tax_type as text) as line_item_tax_type,

        -- line item: quantity and money (in line_item_currency_code)
        cast(line_item_usage_amount as numeric) as line_item_usage_amount,
        cast(line_item_unblended_cost as numeric) as line_item_unblended_cost,
        cast(line_item_net_unblended_cost as numeric) as line_item_net_unblended_cost,
        cast(line_item_blended_cost as numeric) as line_item_blended_cost,
        cast(line_item_currency_code as text) as line_item_currency_code,

        -- pricing and product
        cast(pricing_public_on_demand_cost as numeric) as pricing_public_on_demand_cost,
        cast(pricing_term as text) as pricing_term,
        cast(pricing_unit as text) as pricing_unit,
        cast(product_servicecode as text) as product_servicecode,
        cast(product_region_code as text) as product_region_code,
        cast(product_location as text) as product_location,
        cast(product_product_family as text) as product_product_family,
        cast(product_sku as text) as product_sku,
        cast(product_instance_type as text) as product_instance_type,

        -- the CUR 2.0 maps (jsonb objects, keys as delivered)
        cast(product as jsonb) as product,
        cast(resource_tags as jsonb) as resource_tags,
        cast(cost_category as jsonb) as cost_category,
        cast(discount as jsonb) as discount,

        -- reservations (Reserved Instances) and Savings Plans
        cast(reservation_reservation_a_r_n as text) as reservation_reservation_a_r_n,
        cast(reservation_effective_cost as numeric) as reservation_effective_cost,
        cast(reservation_amortized_upfront_fee_for_billing_period as numeric)
            as reservation_amortized_upfront_fee_for_billing_period,
        cast(reservation_unused_amortized_upfront_fee_for_billing_period as numeric)
            as reservation_unused_amortized_upfront_fee_for_billing_period,
        cast(reservation_unused_recurring_fee as numeric) as reservation_unused_recurring_fee,
        cast(reservation_recurring_fee_for_usage as numeric) as reservation_recurring_fee_for_usage,
        cast(savings_plan_savings_plan_a_r_n as text) as savings_plan_savings_plan_a_r_n,
        cast(savings_plan_savings_plan_effective_cost as numeric) as savings_plan_savings_plan_effective_cost,
        cast(savings_plan_total_commitment_to_date as numeric) as savings_plan_total_commitment_to_date,
        cast(savings_plan_used_commitment as numeric) as savings_plan_used_commitment,

        -- every other column of the file, as delivered
        cast(extras as jsonb) as extras,

        -- load metadata
        cast(_batch_id as text) as batch_id,
        cast(_loaded_at as timestamptz) as loaded_at

    from source
)

select * from renamed
