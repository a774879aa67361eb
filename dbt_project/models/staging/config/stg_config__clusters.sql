-- Configured compute clusters. Grain: cluster_id.
with

source as (
    select * from {{ source('config', 'clusters') }}
),

renamed as (
    select
        cast(cluster_id as text) as cluster_id,
        cast(provider as text) as provider_name,
        cast(region as text) as region_id,
        cast(nodes as integer) as configured_nodes,
        cast(gpus_per_node as integer) as gpus_per_node,
        cast(gpu_type as text) as gpu_type,
        -- what "utilised" means for the cluster's cost: GPU utilisation where it has GPUs, else CPU
        cast(case when coalesce(gpus_per_node, 0) > 0 then 'gpu' else 'cpu' end as text) as utilisation_basis
    from source
)

select * from renamed
