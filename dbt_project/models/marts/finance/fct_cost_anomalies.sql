-- Daily cost anomalies per provider, sub account and service.
-- Grain: charge_date x provider_name x sub_account_id x service_name x billing_currency ('n/a' sub account when
-- none), for every day from the series' first cost day to its provider's latest charge_date on which the series
-- has cost lines or had non-zero cost in the baseline window (a day without lines counts as 0: a drop to nothing
-- is judged too; a provider whose bill lags is not judged on days it has not delivered yet).
-- Rules (settings from stg_config__anomaly_settings):
--   baseline_cost = median effective cost of the baseline_days days before the day (not the day itself; only
--     days on or after the series' first cost day), mad = median |cost - baseline_cost| over the same days:
--     both robust to the outliers (spikes) they are meant to find. baseline_cost, mad and scale_cost are rounded
--     to 6 decimals (micro-units, the precision of the cost data).
--   scale = greatest(1.4826 x mad, 5 % of |baseline_cost|, min_cost_delta / 10, 0.01): 1.4826 x MAD is the
--     standard deviation of normal data; the floors are the zero-variance guard - on flat history (MAD 0) a jump
--     of more than 5 % of the baseline is still measurable, and a near-zero spread does not turn cents into
--     critical anomalies. robust_z = (actual_cost - baseline_cost) / scale, rounded to 2 decimals.
--   is_anomaly: history_days >= min_history_days (else no verdict) and |deviation_cost| >= min_cost_delta
--     (dollar floor) and |robust_z| >= 3.5.
--   severity (|robust_z|): low >= 3.5, medium >= 5, high >= 7, critical >= 10. Drops (direction 'drop') are
--     capped at medium: less spend is a data question, not a cost risk, so it shows in the mart but does not reach
--     the default alert level (high).
--   is_open: an anomaly whose charge_date is within var('open_anomaly_days') (default 7) days of the latest
--     charge_date in the mart (charge_date > latest - 7 days): recent enough to still need a look.
{% set consistency_constant = 1.4826 %}
{% set relative_scale_floor = 0.05 %}
{% set severity_low = 3.5 %}
{% set severity_medium = 5 %}
{% set severity_high = 7 %}
{% set severity_critical = 10 %}
with

settings as (
    select * from {{ ref('stg_config__anomaly_settings') }}
),

costs as (
    select
        charge_date,
        provider_name,
        coalesce(sub_account_id, 'n/a') as sub_account_id,
        service_name,
        service_category,
        billing_currency,
        effective_cost
    from {{ ref('int_focus_costs') }}
),

daily as (
    select
        charge_date,
        provider_name,
        sub_account_id,
        service_name,
        billing_currency,
        max(service_category) as service_category,
        sum(effective_cost) as actual_cost,
        count(*) as line_item_count
    from costs
    group by charge_date, provider_name, sub_account_id, service_name, billing_currency
),

provider_latest as (
    select
        provider_name,
        max(charge_date) as latest_charge_date
    from costs
    group by provider_name
),

series as (
    select
        -- an integer key per series: the rolling-window self-join below joins on it instead of four text columns
        row_number() over (
            order by daily.provider_name, daily.sub_account_id, daily.service_name, daily.billing_currency
        ) as series_id,
        daily.provider_name,
        daily.sub_account_id,
        daily.service_name,
        daily.billing_currency,
        min(daily.charge_date) as first_charge_date,
        max(provider_latest.latest_charge_date) as last_charge_date,
        max(daily.service_category) as service_category
    from daily
    inner join provider_latest
        on daily.provider_name = provider_latest.provider_name
    group by daily.provider_name, daily.sub_account_id, daily.service_name, daily.billing_currency
),

calendar as (
    select
        series.series_id,
        series.provider_name,
        series.sub_account_id,
        series.service_name,
        series.billing_currency,
        series.service_category,
        cast(calendar_day.day as date) as charge_date
    from series
    cross join lateral generate_series(
        cast(series.first_charge_date as timestamp),
        cast(series.last_charge_date as timestamp),
        interval '1 day'
    ) as calendar_day (day)
),

dense as (
    select
        calendar.series_id,
        calendar.charge_date,
        calendar.provider_name,
        calendar.sub_account_id,
        calendar.service_name,
        calendar.billing_currency,
        calendar.service_category,
        coalesce(daily.actual_cost, 0) as actual_cost,
        coalesce(daily.line_item_count, 0) as line_item_count
    from calendar
    left join daily
        on
            calendar.provider_name = daily.provider_name
            and calendar.sub_account_id = daily.sub_account_id
            and calendar.service_name = daily.service_name
            and calendar.billing_currency = daily.billing_currency
            and calendar.charge_date = daily.charge_date
),

-- every (day judged, day of its baseline window) pair of a series
history as (
    select
        judged.series_id,
        judged.charge_date,
        past.actual_cost as past_cost
    from dense as judged
    cross join settings
    inner join dense as past
        on
            judged.series_id = past.series_id
            and judged.charge_date - settings.baseline_days <= past.charge_date
            and judged.charge_date > past.charge_date
),

baselines as (
    select
        series_id,
        charge_date,
        round({{ numeric_median('past_cost') }}, 6) as baseline_cost,
        cast(count(*) as integer) as history_days,
        bool_or(past_cost <> 0) as has_cost_in_window
    from history
    group by series_id, charge_date
),

deviations as (
    select
        history.series_id,
        history.charge_date,
        round({{ numeric_median('abs(history.past_cost - baselines.baseline_cost)') }}, 6) as mad
    from history
    inner join baselines
        on
            history.series_id = baselines.series_id
            and history.charge_date = baselines.charge_date
    group by history.series_id, history.charge_date
),

scored as (
    select
        dense.charge_date,
        dense.provider_name,
        dense.sub_account_id,
        dense.service_name,
        dense.service_category,
        dense.billing_currency,
        dense.actual_cost,
        dense.line_item_count,
        baselines.baseline_cost,
        deviations.mad,
        coalesce(baselines.history_days, 0) as history_days,
        coalesce(baselines.history_days, 0) >= settings.min_history_days as has_enough_history,
        coalesce(baselines.has_cost_in_window, false) as has_cost_in_window,
        dense.actual_cost - baselines.baseline_cost as deviation_cost,
        case
            when baselines.baseline_cost is not null
                then round(
                        greatest(
                            {{ consistency_constant }} * deviations.mad,
                            {{ relative_scale_floor }} * abs(baselines.baseline_cost),
                            settings.min_cost_delta / 10,
                            0.01
                        ),
                        6
                    )
        end as scale_cost,
        settings.min_cost_delta
    from dense
    cross join settings
    left join baselines
        on
            dense.series_id = baselines.series_id
            and dense.charge_date = baselines.charge_date
    left join deviations
        on
            dense.series_id = deviations.series_id
            and dense.charge_date = deviations.charge_date
    where dense.line_item_count > 0 or baselines.has_cost_in_window
),

judged as (
    select
        *,
        round(deviation_cost / scale_cost, 2) as robust_z
    from scored
),

verdicts as (
    select
        *,
        coalesce(
            has_enough_history
            and abs(deviation_cost) >= min_cost_delta
            and abs(robust_z) >= {{ severity_low }},
            false
        ) as is_anomaly
    from judged
),

final as (
    select
        {{ surrogate_key(['charge_date', 'provider_name', 'sub_account_id', 'service_name', 'billing_currency']) }}
            as anomaly_key,
        charge_date,
        provider_name,
        sub_account_id,
        service_name,
        service_category,
        billing_currency,
        actual_cost,
        baseline_cost,
        mad,
        scale_cost,
        deviation_cost,
        robust_z,
        history_days,
        has_enough_history,
        is_anomaly,
        case
            when is_anomaly and deviation_cost > 0 then 'spike'
            when is_anomaly then 'drop'
        end as direction,
        case
            when not is_anomaly then null
            when deviation_cost < 0 and abs(robust_z) >= {{ severity_medium }} then 'medium'
            when abs(robust_z) >= {{ severity_critical }} then 'critical'
            when abs(robust_z) >= {{ severity_high }} then 'high'
            when abs(robust_z) >= {{ severity_medium }} then 'medium'
            else 'low'
        end as severity,
        line_item_count,
        is_anomaly
        and charge_date > max(charge_date) over () - {{ var('open_anomaly_days', 7) | int }} as is_open
    from verdicts
)

select * from final
