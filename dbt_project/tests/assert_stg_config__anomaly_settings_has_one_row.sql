-- stg_config__anomaly_settings is a one-row table (sync-config writes one row; an empty table falls back to the
-- defaults). More than one row would multiply every fct_cost_anomalies row: fail with the row count.
select count(*) as settings_rows
from {{ ref('stg_config__anomaly_settings') }}
having count(*) <> 1
