-- Google Cloud Billing export lines conformed to the FOCUS cost columns.
-- Grain: one row per export line (cost_line_key): a 'cost' line per export row, a 'Credit' line per credit.
-- billed = effective: the standard export has no amortisation (committed use discount fees are their own lines,
-- and CUD credits are credit lines). list_cost: cost_at_list on cost lines (NULL when not exported), 0 on credits;
-- contracted_cost: the export's cost (it includes negotiated discounts), 0 on credits.
with

cost_lines as (
    select
        *,
        -- the invoice's month (YYYYMM); a line without one falls back to its usage month
        coalesce(
            to_date(invoice_month, 'YYYYMM'),
            cast(date_trunc('month', usage_start_time at time zone 'UTC') as date)
        ) as billing_month,
        line_type = 'credit'
        and credit_type in ('COMMITTED_USAGE_DISCOUNT', 'COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE')
            as is_commitment_credit
    from {{ ref('stg_gcp_billing_export__cost_lines') }}
),

conformed as (
    select
        cost_line_key,
        source_id,

        usage_start_time as charge_period_start,
        usage_end_time as charge_period_end,
        cast(billing_month as timestamp) at time zone 'UTC' as billing_period_start,
        cast(billing_month + interval '1 month' as timestamp) at time zone 'UTC' as billing_period_end,

        cast('Google Cloud' as text) as provider_name,
        cast('Google Cloud' as text) as publisher_name,
        cast('Google Cloud' as text) as invoice_issuer_name,
        billing_account_id,
        cast(null as text) as billing_account_name,
        project_id as sub_account_id,
        project_name as sub_account_name,

        service_description as service_name,
        case
            when service_description in (
                    'Compute Engine', 'Kubernetes Engine', 'Cloud Run', 'Cloud Run Functions', 'Cloud Functions',
                    'App Engine', 'Batch', 'VMware Engine'
                ) then 'Compute'
            when service_description in (
                    'Cloud Storage', 'Filestore', 'Backup and DR Service', 'Cloud Storage for Firebase'
                ) then 'Storage'
            when service_description in (
                    'BigQuery', 'BigQuery Storage API', 'BigQuery Reservation API', 'BigQuery BI Engine',
                    'Dataflow', 'Cloud Dataflow', 'Dataproc', 'Cloud Dataproc', 'Cloud Composer', 'Looker',
                    'Dataplex', 'Data Catalog'
                ) then 'Analytics'
            when service_description in (
                    'Cloud SQL', 'Cloud Spanner', 'Cloud Bigtable', 'Cloud Memorystore for Redis',
                    'Memorystore for Redis', 'Cloud Firestore', 'Firestore', 'AlloyDB for PostgreSQL',
                    'Cloud Datastore', 'Datastore'
                ) then 'Databases'
            when service_description in (
                    'Vertex AI', 'Gemini API', 'Cloud AI Platform', 'Cloud Vision API', 'Cloud Speech API',
                    'Cloud Text-to-Speech API', 'Cloud Translation API', 'Cloud Natural Language API', 'Document AI',
                    'Dialogflow'
                ) then 'AI and Machine Learning'
            when service_description in (
                    'Networking', 'Cloud DNS', 'Cloud CDN', 'Cloud Load Balancing', 'Cloud NAT', 'Cloud VPN',
                    'Cloud Interconnect', 'Network Intelligence Center'
                ) then 'Networking'
            when service_description in (
                    'Cloud Logging', 'Cloud Monitoring', 'Stackdriver Logging', 'Stackdriver Monitoring', 'Cloud Trace',
                    'Cloud Asset Inventory'
                ) then 'Management and Governance'
            when service_description in (
                    'Secret Manager', 'Cloud Key Management Service (KMS)', 'Cloud Armor', 'Security Command Center',
                    'reCAPTCHA Enterprise'
                ) then 'Security'
            when service_description in ('Identity Platform', 'Cloud Identity') then 'Identity'
            when service_description in (
                    'Artifact Registry', 'Cloud Build', 'Container Registry', 'Cloud Source Repositories',
                    'Cloud Deploy'
                ) then 'Developer Tools'
            when service_description in (
                    'Cloud Pub/Sub', 'Pub/Sub', 'Cloud Tasks', 'Cloud Scheduler', 'Workflows', 'Eventarc', 'Apigee',
                    'Application Integration'
                ) then 'Integration'
            else 'Other'
        end as service_category,
        usage_region as region_id,
        cast(null as text) as region_name,
        coalesce(resource_global_name, resource_name) as resource_id,
        resource_name,
        sku_id,

        case
            when line_type = 'credit' then 'Credit'
            when cost_type = 'tax' then 'Tax'
            when cost_type = 'adjustment' or cost_type like 'rounding%' then 'Adjustment'
            else 'Usage'
        end as charge_category,
        case
            when adjustment_type in ('USAGE_CORRECTION', 'PRICE_CORRECTION', 'METADATA_CORRECTION')
                then 'Correction'
        end as charge_class,
        case
            when line_type = 'credit' then coalesce(nullif(credit_full_name, ''), credit_name)
            else sku_description
        end as charge_description,
        case when cost_type = 'regular' then 'Usage-Based' end as charge_frequency,
        case when is_commitment_credit then 'Committed' end as pricing_category,

        usage_amount_in_pricing_units as pricing_quantity,
        usage_pricing_unit as pricing_unit,
        cast(null as numeric) as list_unit_price,
        cast(null as numeric) as contracted_unit_price,
        amount as billed_cost,
        amount as effective_cost,
        case when line_type = 'credit' then 0 else cost_at_list end as list_cost,
        case when line_type = 'credit' then 0 else amount end as contracted_cost,
        currency as billing_currency,

        case when is_commitment_credit then credit_id end as commitment_discount_id,
        case when is_commitment_credit then 'Committed Use Discount' end as commitment_discount_type,
        case
            when credit_type = 'COMMITTED_USAGE_DISCOUNT' and line_type = 'credit' then 'Usage'
            when credit_type = 'COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE' and line_type = 'credit' then 'Spend'
        end as commitment_discount_category,
        case when is_commitment_credit then 'Used' end as commitment_discount_status,
        labels as tags

    from cost_lines
)

select * from conformed
