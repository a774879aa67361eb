-- MongoDB Atlas cluster inventory (collectors/sources/mongodb_atlas.py): one row per cluster and day.
-- Grain: group_id x cluster_name x snapshot_date. A project id is unique across Atlas, so two sources of one
-- organisation (an invoice source and a daily inventory source) describe the same cluster-day: the answer taken
-- closest to the day wins (the earliest as_of; a load dates the inventory back over its window), then the latest
-- load. Within one source a load replaces its window, so the rank only matters across sources.
with

source as (
    select * from {{ source('mongodb_atlas', 'mongodb_atlas_clusters') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by group_id, cluster_name, snapshot_date
            order by as_of asc, _loaded_at desc, _batch_id desc
        ) as load_rank
    from source
),

latest as (
    select * from ranked
    where load_rank = 1
),

renamed as (
    select
        {{ surrogate_key(['group_id', 'cluster_name', 'snapshot_date']) }} as cluster_day_key,
        cast(_source_id as text) as source_id,
        cast(snapshot_date as date) as snapshot_date,
        cast(org_id as text) as org_id,
        cast(group_id as text) as group_id,
        cast(group_name as text) as group_name,
        cast(cluster_id as text) as cluster_id,
        cast(cluster_name as text) as cluster_name,
        cast(cluster_type as text) as cluster_type,
        cast(provider as text) as cloud_provider,
        cast(region as text) as region,
        cast(instance_size as text) as instance_size,
        cast(electable_nodes as integer) as electable_nodes,
        cast(read_only_nodes as integer) as read_only_nodes,
        cast(analytics_nodes as integer) as analytics_nodes,
        cast(shard_count as integer) as shard_count,
        cast(state as text) as state,
        cast(paused as boolean) as is_paused,
        cast(created as timestamptz) as created_at,
        coalesce(cast(tags as jsonb), cast('{}' as jsonb)) as tags,
        cast(as_of as timestamptz) as as_of
    from latest
)

select * from renamed
