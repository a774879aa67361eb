-- Compute clusters: the config file's and those registered through the Python API
-- (ObservabilityHub.register_cluster -> config.api_clusters: no provider or GPU details); on an id in both, the
-- config file's wins. Grain: cluster_id.
with

configured as (
    select
        cluster_id,
        provider as cloud_provider,
        region,
        nodes,
        gpus_per_node,
        gpu_type
    from {{ source('config', 'clusters') }}
),

registered_through_api as (
    select
        cluster_id,
        cast(null as text) as cloud_provider,
        region,
        nodes,
        cast(null as integer) as gpus_per_node,
        cast(null as text) as gpu_type
    from {{ source('config', 'api_clusters') }}
    where cluster_id not in (select configured.cluster_id from configured)
),

source as (
    select * from configured
    union all
    select * from registered_through_api
),

renamed as (
    select
        cast(cluster_id as text) as cluster_id,
        cast(cloud_provider as text) as provider_name,
        cast(region as text) as region_id,
        cast(nodes as integer) as configured_nodes,
        cast(gpus_per_node as integer) as gpus_per_node,
        cast(gpu_type as text) as gpu_type,
        -- what "utilised" means for the cluster's cost: GPU utilisation where it has GPUs, else CPU
        cast(case when coalesce(gpus_per_node, 0) > 0 then 'gpu' else 'cpu' end as text) as utilisation_basis
    from source
)

select * from renamed
