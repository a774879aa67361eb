-- AWS Cost Explorer daily cost (cost pass only: GroupBy LINKED_ACCOUNT x SERVICE) conformed to the FOCUS columns.
-- Grain: one row per source_id x day x linked account x service (cost_line_key).
-- Breakdown passes (REGION, TAG:<key>, ...) re-slice the same spend and are left out: adding them would multiply it.
-- Choices (Cost Explorer gives aggregates, not invoice lines):
-- * billed_cost = UnblendedCost (what the invoice shows for the day).
-- * effective_cost = NetAmortizedCost, else AmortizedCost. FOCUS EffectiveCost is the cost "after applying all
--   reduced rates, discounts, and the applicable portion of prepaid purchases": amortized (commitment fees spread
--   over the usage they cover) and net of discounts (EDP, private pricing) - NetAmortizedCost is exactly that.
-- * list_cost, contracted_cost and unit prices NULL: Cost Explorer has no public-price or contract-price metric
--   (only a CUR / FOCUS data export has them).
-- * billing_account_id = the linked account: GetCostAndUsage does not name the payer (management) account.
-- * charge_category 'Usage', except the SERVICE value 'Tax': a service's daily figure nets usage, credits and
--   refunds together. A RECORD_TYPE pass (extra_group_bys [[RECORD_TYPE]]) would separate them.
with

costs as (
    select * from {{ ref('stg_aws_cost_explorer__cost_daily') }}
    where grouping_name = 'LINKED_ACCOUNT,SERVICE'
),

-- Cost Explorer SERVICE names -> FOCUS 1.2 ServiceCategory, for common services; anything else is 'Other'.
service_categories (service_name, service_category) as (
    values
    ('Amazon Elastic Compute Cloud - Compute', 'Compute'),
    ('EC2 - Other', 'Compute'),
    ('Amazon Elastic Compute Cloud', 'Compute'),
    ('AWS Lambda', 'Compute'),
    ('Amazon Elastic Container Service', 'Compute'),
    ('Amazon Elastic Container Service for Kubernetes', 'Compute'),
    ('Amazon Elastic Kubernetes Service', 'Compute'),
    ('Amazon EC2 Container Registry (ECR)', 'Compute'),
    ('Amazon Lightsail', 'Compute'),
    ('AWS Batch', 'Compute'),
    ('AWS Outposts', 'Compute'),
    ('AWS App Runner', 'Compute'),
    ('AWS Elastic Beanstalk', 'Compute'),
    ('Savings Plans for AWS Compute usage', 'Compute'),
    ('Amazon Simple Storage Service', 'Storage'),
    ('Amazon Elastic Block Store', 'Storage'),
    ('Amazon Elastic File System', 'Storage'),
    ('Amazon FSx', 'Storage'),
    ('Amazon Glacier', 'Storage'),
    ('Amazon S3 Glacier', 'Storage'),
    ('AWS Backup', 'Storage'),
    ('AWS Storage Gateway', 'Storage'),
    ('AWS Elastic Disaster Recovery', 'Storage'),
    ('AWS Snowball', 'Storage'),
    ('Amazon Relational Database Service', 'Databases'),
    ('Amazon DynamoDB', 'Databases'),
    ('Amazon ElastiCache', 'Databases'),
    ('Amazon Redshift', 'Databases'),
    ('Amazon DocumentDB (with MongoDB compatibility)', 'Databases'),
    ('Amazon Neptune', 'Databases'),
    ('Amazon MemoryDB', 'Databases'),
    ('Amazon Keyspaces (for Apache Cassandra)', 'Databases'),
    ('Amazon Timestream', 'Databases'),
    ('Amazon CloudFront', 'Networking'),
    ('Amazon Virtual Private Cloud', 'Networking'),
    ('Amazon Route 53', 'Networking'),
    ('Elastic Load Balancing', 'Networking'),
    ('Amazon Elastic Load Balancing', 'Networking'),
    ('AWS Direct Connect', 'Networking'),
    ('AWS Global Accelerator', 'Networking'),
    ('Amazon API Gateway', 'Networking'),
    ('AWS Data Transfer', 'Networking'),
    ('AWS Transit Gateway', 'Networking'),
    ('AWS Cloud Map', 'Networking'),
    ('AWS Network Firewall', 'Networking'),
    ('Amazon SageMaker', 'AI and Machine Learning'),
    ('Amazon Bedrock', 'AI and Machine Learning'),
    ('Amazon Rekognition', 'AI and Machine Learning'),
    ('Amazon Textract', 'AI and Machine Learning'),
    ('Amazon Comprehend', 'AI and Machine Learning'),
    ('Amazon Transcribe', 'AI and Machine Learning'),
    ('Amazon Translate', 'AI and Machine Learning'),
    ('Amazon Polly', 'AI and Machine Learning'),
    ('Amazon Kendra', 'AI and Machine Learning'),
    ('Amazon Lex', 'AI and Machine Learning'),
    ('Amazon Personalize', 'AI and Machine Learning'),
    ('Amazon Forecast', 'AI and Machine Learning'),
    ('Amazon Athena', 'Analytics'),
    ('AWS Glue', 'Analytics'),
    ('Amazon Kinesis', 'Analytics'),
    ('Amazon Kinesis Firehose', 'Analytics'),
    ('Amazon Kinesis Analytics', 'Analytics'),
    ('Amazon Elastic MapReduce', 'Analytics'),
    ('Amazon EMR', 'Analytics'),
    ('Amazon OpenSearch Service', 'Analytics'),
    ('Amazon Elasticsearch Service', 'Analytics'),
    ('Amazon QuickSight', 'Analytics'),
    ('Amazon Managed Streaming for Apache Kafka', 'Analytics'),
    ('AWS Lake Formation', 'Analytics'),
    ('AWS Data Exchange', 'Analytics'),
    ('Amazon Simple Queue Service', 'Integration'),
    ('Amazon Simple Notification Service', 'Integration'),
    ('AWS Step Functions', 'Integration'),
    ('Amazon EventBridge', 'Integration'),
    ('CloudWatch Events', 'Integration'),
    ('Amazon MQ', 'Integration'),
    ('Amazon AppFlow', 'Integration'),
    ('Amazon Managed Workflows for Apache Airflow', 'Integration'),
    ('AmazonCloudWatch', 'Management and Governance'),
    ('Amazon CloudWatch', 'Management and Governance'),
    ('AWS CloudTrail', 'Management and Governance'),
    ('AWS Config', 'Management and Governance'),
    ('AWS Systems Manager', 'Management and Governance'),
    ('AWS CloudFormation', 'Management and Governance'),
    ('AWS Cost Explorer', 'Management and Governance'),
    ('AWS Budgets', 'Management and Governance'),
    ('AWS Service Catalog', 'Management and Governance'),
    ('AWS Control Tower', 'Management and Governance'),
    ('Amazon Managed Grafana', 'Management and Governance'),
    ('Amazon Managed Service for Prometheus', 'Management and Governance'),
    ('AWS Key Management Service', 'Security'),
    ('AWS Secrets Manager', 'Security'),
    ('AWS WAF', 'Security'),
    ('Amazon GuardDuty', 'Security'),
    ('AWS Security Hub', 'Security'),
    ('Amazon Inspector', 'Security'),
    ('AWS Shield', 'Security'),
    ('AWS Certificate Manager', 'Security'),
    ('Amazon Macie', 'Security'),
    ('Amazon Detective', 'Security'),
    ('AWS Firewall Manager', 'Security'),
    ('AWS CloudHSM', 'Security'),
    ('Amazon Cognito', 'Identity'),
    ('AWS Directory Service', 'Identity'),
    ('AWS IAM Identity Center', 'Identity'),
    ('AWS CodeBuild', 'Developer Tools'),
    ('AWS CodePipeline', 'Developer Tools'),
    ('AWS CodeCommit', 'Developer Tools'),
    ('AWS CodeArtifact', 'Developer Tools'),
    ('AWS CodeDeploy', 'Developer Tools'),
    ('AWS X-Ray', 'Developer Tools'),
    ('AWS Amplify', 'Developer Tools'),
    ('AWS AppSync', 'Developer Tools'),
    ('AWS Cloud9', 'Developer Tools'),
    ('Amazon Simple Email Service', 'Business Applications'),
    ('Amazon Connect', 'Business Applications'),
    ('Amazon WorkSpaces', 'Business Applications'),
    ('Amazon WorkMail', 'Business Applications'),
    ('Amazon Chime', 'Business Applications'),
    ('Amazon Pinpoint', 'Business Applications'),
    ('AWS IoT', 'Internet of Things'),
    ('AWS IoT Core', 'Internet of Things'),
    ('AWS IoT Greengrass', 'Internet of Things'),
    ('AWS IoT Analytics', 'Internet of Things'),
    ('AWS Elemental MediaConvert', 'Media'),
    ('AWS Elemental MediaLive', 'Media'),
    ('AWS Elemental MediaPackage', 'Media'),
    ('Amazon Kinesis Video Streams', 'Media'),
    ('Amazon Interactive Video Service', 'Media'),
    ('Amazon Elastic Transcoder', 'Media'),
    ('AWS Database Migration Service', 'Migration'),
    ('AWS DataSync', 'Migration'),
    ('AWS Transfer Family', 'Migration'),
    ('AWS Application Migration Service', 'Migration'),
    ('AWS Device Farm', 'Mobile')
),

conformed as (
    select
        {{ surrogate_key([
            'costs.source_id', 'costs.time_period_start', 'costs.linked_account_id', 'costs.service_name'
        ]) }} as cost_line_key,
        costs.source_id,

        cast(costs.time_period_start as timestamp) at time zone 'UTC' as charge_period_start,
        cast(costs.time_period_end as timestamp) at time zone 'UTC' as charge_period_end,
        date_trunc('month', cast(costs.time_period_start as timestamp)) at time zone 'UTC' as billing_period_start,
        (date_trunc('month', cast(costs.time_period_start as timestamp)) + interval '1 month') at time zone 'UTC'
            as billing_period_end,

        cast('AWS' as text) as provider_name,
        cast('AWS' as text) as publisher_name,
        cast('AWS' as text) as invoice_issuer_name,
        costs.linked_account_id as billing_account_id,
        costs.linked_account_name as billing_account_name,
        costs.linked_account_id as sub_account_id,
        costs.linked_account_name as sub_account_name,

        costs.service_name,
        coalesce(service_categories.service_category, 'Other') as service_category,
        cast(null as text) as region_id,
        cast(null as text) as region_name,
        cast(null as text) as resource_id,
        cast(null as text) as resource_name,
        cast(null as text) as sku_id,

        case when costs.service_name = 'Tax' then 'Tax' else 'Usage' end as charge_category,
        cast(null as text) as charge_class,
        costs.service_name || ' daily cost from AWS Cost Explorer'
        || case when costs.is_estimated then ' (estimated)' else '' end as charge_description,
        cast(null as text) as charge_frequency,
        cast(null as text) as pricing_category,

        costs.usage_quantity as pricing_quantity,
        nullif(costs.usage_unit, 'N/A') as pricing_unit,
        cast(null as numeric) as list_unit_price,
        cast(null as numeric) as contracted_unit_price,
        costs.unblended_cost as billed_cost,
        coalesce(costs.net_amortized_cost, costs.amortized_cost) as effective_cost,
        cast(null as numeric) as list_cost,
        cast(null as numeric) as contracted_cost,
        costs.currency as billing_currency,

        cast(null as text) as commitment_discount_id,
        cast(null as text) as commitment_discount_type,
        cast(null as text) as commitment_discount_category,
        cast(null as text) as commitment_discount_status,
        cast(null as jsonb) as tags

    from costs
    left join service_categories
        on costs.service_name = service_categories.service_name
)

-- exactly the FOCUS cost columns, in the macro's order (fails to build if one is missing)
select {{ focus_cost_columns() | join(', ') }}
from conformed
