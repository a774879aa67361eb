-- Azure daily cost from the Cost Management Query API (cost pass only: ServiceName x ResourceGroupName) conformed
-- to the FOCUS cost columns.
-- Grain: one row per source_id x scope x day x service x resource group x currency (cost_line_key).
-- The meter and tag passes re-slice the same spend and are left out: adding them would multiply it.
-- Choices (the Query API gives daily aggregates, not invoice lines):
-- * billed_cost = the ActualCost row, effective_cost = the AmortizedCost row of the same (day, service, resource
--   group, currency). A side the API did not return is 0: the API only returns groups that have cost of that type
--   (a reservation purchase is an ActualCost row only - amortised, it moves onto the usage it covers, which in turn
--   is 0 when billed).
-- * list_cost, contracted_cost and unit prices NULL: the Query API has no list-price or contract-price measure.
-- * billing_account_id = the billing account of a billing-account scope, else the subscription;
--   sub_account_id = the subscription of a subscription / resource-group scope. Names are not in the response.
-- * charge_category 'Usage': a (service, resource group) day nets usage, purchases and refunds together.
-- * region NULL (no ResourceLocation grouping), tags NULL (tag passes are breakdowns, not line attributes).
-- * service_category from the service_categories mapping below (lower-cased ServiceName), else 'Other'.
with

cost_pass as (
    select * from {{ ref('stg_azure_cost_query__cost_daily') }}
    where grouping_pass = 'cost'
),

paired as (
    select
        source_id,
        scope,
        usage_date,
        service_name,
        resource_group_name,
        currency,
        sum(case when cost_type = 'ActualCost' then cost_amount else 0 end) as billed_cost,
        sum(case when cost_type = 'AmortizedCost' then cost_amount else 0 end) as effective_cost
    from cost_pass
    group by source_id, scope, usage_date, service_name, resource_group_name, currency
),

-- Cost Management ServiceName (lower-cased) -> FOCUS 1.2 ServiceCategory, for common services; anything else is
-- 'Other'. Names as Cost Management reports them (e.g. 'Storage', 'Bandwidth', 'Virtual Machines').
service_categories (service_key, service_category) as (
    values
    ('virtual machines', 'Compute'),
    ('virtual machines licenses', 'Compute'),
    ('azure kubernetes service', 'Compute'),
    ('functions', 'Compute'),
    ('azure functions', 'Compute'),
    ('container instances', 'Compute'),
    ('azure container apps', 'Compute'),
    ('batch', 'Compute'),
    ('cloud services', 'Compute'),
    ('azure spring apps', 'Compute'),
    ('azure vmware solution', 'Compute'),
    ('azure virtual desktop', 'Compute'),
    ('storage', 'Storage'),
    ('azure blob storage', 'Storage'),
    ('azure files', 'Storage'),
    ('azure netapp files', 'Storage'),
    ('backup', 'Storage'),
    ('azure backup', 'Storage'),
    ('azure data lake storage', 'Storage'),
    ('azure site recovery', 'Storage'),
    ('azure managed lustre', 'Storage'),
    ('azure sql database', 'Databases'),
    ('sql database', 'Databases'),
    ('sql managed instance', 'Databases'),
    ('azure sql managed instance', 'Databases'),
    ('sql server', 'Databases'),
    ('azure cosmos db', 'Databases'),
    ('azure database for postgresql', 'Databases'),
    ('azure database for mysql', 'Databases'),
    ('azure database for mariadb', 'Databases'),
    ('redis cache', 'Databases'),
    ('azure cache for redis', 'Databases'),
    ('bandwidth', 'Networking'),
    ('virtual network', 'Networking'),
    ('load balancer', 'Networking'),
    ('application gateway', 'Networking'),
    ('vpn gateway', 'Networking'),
    ('expressroute', 'Networking'),
    ('azure dns', 'Networking'),
    ('azure front door service', 'Networking'),
    ('azure front door', 'Networking'),
    ('content delivery network', 'Networking'),
    ('azure firewall', 'Networking'),
    ('network watcher', 'Networking'),
    ('azure bastion', 'Networking'),
    ('nat gateway', 'Networking'),
    ('azure private link', 'Networking'),
    ('ip addresses', 'Networking'),
    ('traffic manager', 'Networking'),
    ('azure ddos protection', 'Networking'),
    ('azure openai', 'AI and Machine Learning'),
    ('cognitive services', 'AI and Machine Learning'),
    ('azure cognitive services', 'AI and Machine Learning'),
    ('azure ai services', 'AI and Machine Learning'),
    ('azure machine learning', 'AI and Machine Learning'),
    ('azure cognitive search', 'AI and Machine Learning'),
    ('azure ai search', 'AI and Machine Learning'),
    ('azure bot service', 'AI and Machine Learning'),
    ('azure databricks', 'Analytics'),
    ('azure synapse analytics', 'Analytics'),
    ('azure data factory', 'Analytics'),
    ('azure data factory v2', 'Analytics'),
    ('hdinsight', 'Analytics'),
    ('azure hdinsight', 'Analytics'),
    ('stream analytics', 'Analytics'),
    ('azure stream analytics', 'Analytics'),
    ('azure data explorer', 'Analytics'),
    ('power bi embedded', 'Analytics'),
    ('microsoft fabric', 'Analytics'),
    ('azure analysis services', 'Analytics'),
    ('service bus', 'Integration'),
    ('event hubs', 'Integration'),
    ('event grid', 'Integration'),
    ('logic apps', 'Integration'),
    ('api management', 'Integration'),
    ('azure api management', 'Integration'),
    ('azure relay', 'Integration'),
    ('azure monitor', 'Management and Governance'),
    ('log analytics', 'Management and Governance'),
    ('application insights', 'Management and Governance'),
    ('automation', 'Management and Governance'),
    ('azure automation', 'Management and Governance'),
    ('azure policy', 'Management and Governance'),
    ('azure arc', 'Management and Governance'),
    ('azure resource graph', 'Management and Governance'),
    ('insight and analytics', 'Management and Governance'),
    ('azure grafana service', 'Management and Governance'),
    ('key vault', 'Security'),
    ('microsoft defender for cloud', 'Security'),
    ('azure defender', 'Security'),
    ('security center', 'Security'),
    ('sentinel', 'Security'),
    ('microsoft sentinel', 'Security'),
    ('azure information protection', 'Security'),
    ('azure active directory', 'Identity'),
    ('microsoft entra id', 'Identity'),
    ('azure active directory b2c', 'Identity'),
    ('microsoft entra external id', 'Identity'),
    ('azure active directory domain services', 'Identity'),
    ('microsoft entra domain services', 'Identity'),
    ('azure devops', 'Developer Tools'),
    ('container registry', 'Developer Tools'),
    ('azure app configuration', 'Developer Tools'),
    ('azure load testing', 'Developer Tools'),
    ('azure deployment environments', 'Developer Tools'),
    ('microsoft dev box', 'Developer Tools'),
    ('visual studio subscription', 'Developer Tools'),
    ('azure app service', 'Web'),
    ('static web apps', 'Web'),
    ('azure static web apps', 'Web'),
    ('azure signalr service', 'Web'),
    ('iot hub', 'Internet of Things'),
    ('azure iot hub', 'Internet of Things'),
    ('azure digital twins', 'Internet of Things'),
    ('iot central', 'Internet of Things'),
    ('azure maps', 'Internet of Things'),
    ('media services', 'Media'),
    ('azure media services', 'Media'),
    ('azure communication services', 'Media'),
    ('azure migrate', 'Migration'),
    ('azure database migration service', 'Migration'),
    ('notification hubs', 'Mobile')
),

categorised as (
    select
        paired.*,
        (regexp_match(paired.scope, '^subscriptions/([^/]+)'))[1] as subscription_id,
        (regexp_match(paired.scope, '^providers/Microsoft\.Billing/billingAccounts/([^/]+)'))[1] as billing_account,
        coalesce(nullif(paired.service_name, ''), 'Unassigned') as service,
        coalesce(service_categories.service_category, 'Other') as service_category
    from paired
    left join service_categories
        on lower(paired.service_name) = service_categories.service_key
),

conformed as (
    select
        {{ surrogate_key(['source_id', 'scope', 'usage_date', 'service_name', 'resource_group_name', 'currency']) }}
            as cost_line_key,
        source_id,

        cast(usage_date as timestamp) at time zone 'UTC' as charge_period_start,
        cast(usage_date + 1 as timestamp) at time zone 'UTC' as charge_period_end,
        date_trunc('month', cast(usage_date as timestamp)) at time zone 'UTC' as billing_period_start,
        (date_trunc('month', cast(usage_date as timestamp)) + interval '1 month') at time zone 'UTC'
            as billing_period_end,

        cast('Microsoft Azure' as text) as provider_name,
        cast('Microsoft' as text) as publisher_name,
        cast('Microsoft' as text) as invoice_issuer_name,
        coalesce(billing_account, subscription_id) as billing_account_id,
        cast(null as text) as billing_account_name,
        subscription_id as sub_account_id,
        cast(null as text) as sub_account_name,

        service as service_name,
        service_category,
        cast(null as text) as region_id,
        cast(null as text) as region_name,
        cast(null as text) as resource_id,
        cast(null as text) as resource_name,
        cast(null as text) as sku_id,

        cast('Usage' as text) as charge_category,
        cast(null as text) as charge_class,
        service || coalesce(', resource group ' || nullif(resource_group_name, ''), ', no resource group')
        || ' (Cost Management daily total)' as charge_description,
        cast('Usage-Based' as text) as charge_frequency,
        cast(null as text) as pricing_category,

        cast(null as numeric) as pricing_quantity,
        cast(null as text) as pricing_unit,
        cast(null as numeric) as list_unit_price,
        cast(null as numeric) as contracted_unit_price,
        billed_cost,
        effective_cost,
        cast(null as numeric) as list_cost,
        cast(null as numeric) as contracted_cost,
        currency as billing_currency,

        cast(null as text) as commitment_discount_id,
        cast(null as text) as commitment_discount_type,
        cast(null as text) as commitment_discount_category,
        cast(null as text) as commitment_discount_status,
        cast(null as jsonb) as tags

    from categorised
)

select * from conformed
