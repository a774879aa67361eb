-- AWS Data Exports CUR 2.0 line items conformed to the FOCUS cost columns (the mapping and its sources are in
-- _int_aws_data_export__models.yml).
-- Grain: one row per CUR 2.0 line ('charge' part), plus one 'unused_commitment' row for each RIFee or
-- SavingsPlanRecurringFee line whose commitment was not fully used (cost_line_key).
-- Money: billed = what AWS invoices (sum per billing period = sum of line_item_unblended_cost); effective = AWS's
-- amortised cost (the Cloud Intelligence Dashboards formula), with the unused commitment as its own FOCUS row.
with

lines as (
    select
        *,
        -- AWS's amortised cost of the whole line (aws-cudos-framework-deployment, amortized_cost)
        case line_item_line_item_type
            when 'SavingsPlanCoveredUsage' then savings_plan_savings_plan_effective_cost
            when 'SavingsPlanRecurringFee' then savings_plan_total_commitment_to_date - savings_plan_used_commitment
            when 'SavingsPlanNegation' then 0
            when 'SavingsPlanUpfrontFee' then 0
            when 'DiscountedUsage' then reservation_effective_cost
            when 'RIFee'
                then
                    coalesce(reservation_unused_amortized_upfront_fee_for_billing_period, 0)
                    + coalesce(reservation_unused_recurring_fee, 0)
            when 'Fee'
                then
                    case
                        when coalesce(reservation_reservation_a_r_n, '') <> '' then 0
                        else line_item_unblended_cost
                    end
            else line_item_unblended_cost
        end as amortised_cost,
        case
            when line_item_line_item_type in (
                    'SavingsPlanCoveredUsage', 'SavingsPlanNegation', 'SavingsPlanRecurringFee', 'SavingsPlanUpfrontFee'
                ) then 'savings_plan'
            when line_item_line_item_type in ('DiscountedUsage', 'RIFee', 'Fee') then 'reservation'
        end as commitment_kind
    from {{ ref('stg_aws_data_export__cur2_line_items') }}
),

commitment_lines as (
    select
        *,
        case commitment_kind
            when 'savings_plan' then nullif(savings_plan_savings_plan_a_r_n, '')
            when 'reservation' then nullif(reservation_reservation_a_r_n, '')
        end as commitment_arn
    from lines
),

-- every line once ('charge'); a recurring commitment fee with an unused part a second time ('unused_commitment')
line_parts as (
    select
        commitment_lines.*,
        parts.part
    from commitment_lines
    inner join (values ('charge'), ('unused_commitment')) as parts (part)
        on
            parts.part = 'charge'
            or (
                commitment_lines.line_item_line_item_type in ('RIFee', 'SavingsPlanRecurringFee')
                and commitment_lines.amortised_cost <> 0
            )
),

-- AWS product codes -> FOCUS 1.2 ServiceCategory, for common services; anything else is 'Other'.
product_categories (line_item_product_code, service_category) as (
    values
    ('AmazonEC2', 'Compute'),
    ('AWSLambda', 'Compute'),
    ('AmazonECS', 'Compute'),
    ('AmazonEKS', 'Compute'),
    ('AmazonECR', 'Compute'),
    ('AmazonLightsail', 'Compute'),
    ('AWSBatch', 'Compute'),
    ('AWSOutposts', 'Compute'),
    ('AWSAppRunner', 'Compute'),
    ('ComputeSavingsPlans', 'Compute'),
    ('AmazonS3', 'Storage'),
    ('AmazonEFS', 'Storage'),
    ('AmazonFSx', 'Storage'),
    ('AmazonGlacier', 'Storage'),
    ('AWSBackup', 'Storage'),
    ('AWSStorageGateway', 'Storage'),
    ('AmazonRDS', 'Databases'),
    ('AmazonDynamoDB', 'Databases'),
    ('AmazonElastiCache', 'Databases'),
    ('AmazonRedshift', 'Databases'),
    ('AmazonDocDB', 'Databases'),
    ('AmazonNeptune', 'Databases'),
    ('AmazonMemoryDB', 'Databases'),
    ('AmazonMCS', 'Databases'),
    ('AmazonTimestream', 'Databases'),
    ('AmazonCloudFront', 'Networking'),
    ('AmazonVPC', 'Networking'),
    ('AmazonRoute53', 'Networking'),
    ('AWSELB', 'Networking'),
    ('AWSDirectConnect', 'Networking'),
    ('AWSGlobalAccelerator', 'Networking'),
    ('AmazonApiGateway', 'Networking'),
    ('AWSDataTransfer', 'Networking'),
    ('AWSNetworkFirewall', 'Networking'),
    ('AmazonSageMaker', 'AI and Machine Learning'),
    ('AmazonBedrock', 'AI and Machine Learning'),
    ('AmazonRekognition', 'AI and Machine Learning'),
    ('AmazonTextract', 'AI and Machine Learning'),
    ('comprehend', 'AI and Machine Learning'),
    ('transcribe', 'AI and Machine Learning'),
    ('translate', 'AI and Machine Learning'),
    ('AmazonPolly', 'AI and Machine Learning'),
    ('AmazonKendra', 'AI and Machine Learning'),
    ('AmazonAthena', 'Analytics'),
    ('AWSGlue', 'Analytics'),
    ('AmazonKinesis', 'Analytics'),
    ('AmazonKinesisFirehose', 'Analytics'),
    ('ElasticMapReduce', 'Analytics'),
    ('AmazonES', 'Analytics'),
    ('AmazonQuickSight', 'Analytics'),
    ('AmazonMSK', 'Analytics'),
    ('AWSQueueService', 'Integration'),
    ('AmazonSNS', 'Integration'),
    ('AmazonStates', 'Integration'),
    ('AWSEvents', 'Integration'),
    ('AmazonMQ', 'Integration'),
    ('AmazonMWAA', 'Integration'),
    ('AmazonCloudWatch', 'Management and Governance'),
    ('AWSCloudTrail', 'Management and Governance'),
    ('AWSConfig', 'Management and Governance'),
    ('AWSSystemsManager', 'Management and Governance'),
    ('AWSCloudFormation', 'Management and Governance'),
    ('AWSCostExplorer', 'Management and Governance'),
    ('AWSBudgets', 'Management and Governance'),
    ('awskms', 'Security'),
    ('AWSSecretsManager', 'Security'),
    ('awswaf', 'Security'),
    ('AmazonGuardDuty', 'Security'),
    ('AWSSecurityHub', 'Security'),
    ('AmazonInspectorV2', 'Security'),
    ('AWSShield', 'Security'),
    ('AWSCertificateManager', 'Security'),
    ('AmazonMacie', 'Security'),
    ('AmazonCognito', 'Identity'),
    ('AWSDirectoryService', 'Identity'),
    ('CodeBuild', 'Developer Tools'),
    ('AWSCodePipeline', 'Developer Tools'),
    ('AWSCodeCommit', 'Developer Tools'),
    ('AWSCodeArtifact', 'Developer Tools'),
    ('AWSXRay', 'Developer Tools'),
    ('AWSAmplify', 'Developer Tools'),
    ('AWSAppSync', 'Developer Tools'),
    ('AmazonSES', 'Business Applications'),
    ('AmazonConnect', 'Business Applications'),
    ('AmazonWorkSpaces', 'Business Applications'),
    ('AWSIoT', 'Internet of Things'),
    ('AWSElementalMediaConvert', 'Media'),
    ('AWSElementalMediaLive', 'Media'),
    ('AWSDatabaseMigrationSvc', 'Migration'),
    ('AWSDataSync', 'Migration'),
    ('AWSTransfer', 'Migration'),
    ('AWSDeviceFarm', 'Mobile')
),

conformed as (
    select
        case
            when line_parts.part = 'unused_commitment' then md5(line_parts.cost_line_key || '|unused_commitment')
            else line_parts.cost_line_key
        end as cost_line_key,
        line_parts.source_id,

        line_parts.line_item_usage_start_date as charge_period_start,
        line_parts.line_item_usage_end_date as charge_period_end,
        line_parts.bill_billing_period_start_date as billing_period_start,
        line_parts.bill_billing_period_end_date as billing_period_end,

        cast('AWS' as text) as provider_name,
        case
            when line_parts.bill_billing_entity = 'AWS Marketplace'
                then coalesce(line_parts.line_item_legal_entity, 'AWS Marketplace')
            else 'AWS'
        end as publisher_name,
        coalesce(line_parts.bill_invoicing_entity, 'AWS') as invoice_issuer_name,
        line_parts.bill_payer_account_id as billing_account_id,
        line_parts.bill_payer_account_name as billing_account_name,
        line_parts.line_item_usage_account_id as sub_account_id,
        line_parts.line_item_usage_account_name as sub_account_name,

        coalesce(line_parts.product ->> 'product_name', line_parts.line_item_product_code) as service_name,
        coalesce(product_categories.service_category, 'Other') as service_category,
        coalesce(line_parts.product_region_code, line_parts.product ->> 'region') as region_id,
        coalesce(line_parts.product_location, line_parts.product ->> 'location') as region_name,
        nullif(line_parts.line_item_resource_id, '') as resource_id,
        cast(null as text) as resource_name,
        line_parts.product_sku as sku_id,

        case
            when line_parts.part = 'unused_commitment' then 'Usage'
            when line_parts.line_item_line_item_type in (
                    'Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation',
                    'BundledDiscount', 'EdpDiscount', 'PrivateRateDiscount', 'Discount'
                ) then 'Usage'
            when line_parts.line_item_line_item_type in (
                    'Fee', 'RIFee', 'SavingsPlanUpfrontFee', 'SavingsPlanRecurringFee'
                ) then 'Purchase'
            when line_parts.line_item_line_item_type = 'Tax' then 'Tax'
            when line_parts.line_item_line_item_type = 'Credit' then 'Credit'
            else 'Adjustment'
        end as charge_category,
        case
            when line_parts.part = 'charge' and line_parts.line_item_line_item_type = 'Refund' then 'Correction'
        end as charge_class,
        case
            when line_parts.part = 'unused_commitment' and line_parts.commitment_kind = 'savings_plan'
                then 'Unused Savings Plan commitment' || coalesce(' of ' || line_parts.commitment_arn, '')
            when line_parts.part = 'unused_commitment'
                then 'Unused Reserved Instance hours' || coalesce(' of ' || line_parts.commitment_arn, '')
            else line_parts.line_item_line_item_description
        end as charge_description,
        case
            when line_parts.part = 'unused_commitment' then 'Recurring'
            when line_parts.line_item_line_item_type in ('RIFee', 'SavingsPlanRecurringFee') then 'Recurring'
            when line_parts.line_item_line_item_type in ('Fee', 'SavingsPlanUpfrontFee') then 'One-Time'
            when line_parts.line_item_line_item_type in (
                    'Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation',
                    'BundledDiscount', 'EdpDiscount', 'PrivateRateDiscount', 'Discount'
                ) then 'Usage-Based'
        end as charge_frequency,
        case
            when line_parts.part = 'unused_commitment' then 'Committed'
            when line_parts.line_item_line_item_type in (
                    'DiscountedUsage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation'
                ) then 'Committed'
            when line_parts.line_item_line_item_type = 'Usage' and line_parts.pricing_term = 'Spot' then 'Dynamic'
            when line_parts.line_item_line_item_type = 'Usage' then 'Standard'
        end as pricing_category,

        case
            when
                line_parts.part = 'charge' and line_parts.line_item_line_item_type <> 'SavingsPlanNegation'
                then line_parts.line_item_usage_amount
        end as pricing_quantity,
        case when line_parts.part = 'charge' then line_parts.pricing_unit end as pricing_unit,
        cast(null as numeric) as list_unit_price,
        cast(null as numeric) as contracted_unit_price,
        case
            when line_parts.part = 'unused_commitment' then 0
            when line_parts.line_item_line_item_type in ('SavingsPlanCoveredUsage', 'SavingsPlanNegation') then 0
            else line_parts.line_item_unblended_cost
        end as billed_cost,
        case
            when line_parts.part = 'unused_commitment' then line_parts.amortised_cost
            when line_parts.line_item_line_item_type in ('RIFee', 'SavingsPlanRecurringFee') then 0
            else line_parts.amortised_cost
        end as effective_cost,
        case
            when line_parts.part = 'unused_commitment' then 0
            when line_parts.line_item_line_item_type in (
                    'SavingsPlanNegation', 'Credit', 'BundledDiscount', 'EdpDiscount', 'PrivateRateDiscount',
                    'Discount'
                ) then 0
            when line_parts.line_item_line_item_type in ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage')
                then line_parts.pricing_public_on_demand_cost
            else coalesce(line_parts.pricing_public_on_demand_cost, line_parts.line_item_unblended_cost)
        end as list_cost,
        case
            when line_parts.part = 'unused_commitment' then 0
            when line_parts.line_item_line_item_type in ('SavingsPlanNegation', 'Credit') then 0
            when line_parts.line_item_line_item_type = 'DiscountedUsage'
                then coalesce(line_parts.pricing_public_on_demand_cost, 0)
            else line_parts.line_item_unblended_cost
        end as contracted_cost,
        line_parts.line_item_currency_code as billing_currency,

        line_parts.commitment_arn as commitment_discount_id,
        case
            when line_parts.commitment_arn is not null and line_parts.commitment_kind = 'savings_plan'
                then 'Savings Plan'
            when line_parts.commitment_arn is not null then 'Reserved Instance'
        end as commitment_discount_type,
        case
            when line_parts.commitment_arn is not null and line_parts.commitment_kind = 'savings_plan' then 'Spend'
            when line_parts.commitment_arn is not null then 'Usage'
        end as commitment_discount_category,
        case
            when line_parts.part = 'unused_commitment' then 'Unused'
            when line_parts.line_item_line_item_type in (
                    'DiscountedUsage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation'
                ) then 'Used'
        end as commitment_discount_status,
        -- CUR 2.0 keys user tags 'user_<key>': the FOCUS Tags key is <key> (AWS-generated keys stay as delivered)
        case
            when jsonb_typeof(line_parts.resource_tags) = 'object'
                then (
                    select
                        jsonb_object_agg(regexp_replace(tag.key, '^user_', ''), tag.value order by tag.key)
                            as focus_tags
                    from jsonb_each(line_parts.resource_tags) as tag
                )
        end as tags

    from line_parts
    left join product_categories
        on line_parts.line_item_product_code = product_categories.line_item_product_code
)

-- exactly the FOCUS cost columns, in the macro's order (fails to build if one is missing)
select {{ focus_cost_columns() | join(', ') }}
from conformed
