-- The price of a Snowflake credit per source and day: the source's contract price when configured, else the list
-- price of its edition valid on the day (seed snowflake_credit_prices). One place for the price basis of the cost
-- lines (int_snowflake_costs_conformed) and of per-query attribution (fct_snowflake_query_attribution).
-- Grain: source_id x usage_date.
with

price_basis as (
    select distinct
        source_id,
        usage_date,
        edition,
        contract_credit_price,
        currency
    from {{ ref('stg_snowflake_billing__metering_daily') }}
),

list_prices as (
    select * from {{ ref('snowflake_credit_prices') }}
),

priced as (
    select
        price_basis.source_id,
        price_basis.usage_date,
        price_basis.currency,
        coalesce(price_basis.contract_credit_price, list_prices.credit_price) as credit_price,
        case
            when price_basis.contract_credit_price is not null then 'contract'
            else 'list price (' || price_basis.edition || ')'
        end as price_basis
    from price_basis
    left join list_prices
        on
            price_basis.contract_credit_price is null
            and price_basis.edition = list_prices.edition
            and price_basis.currency = list_prices.currency
            and price_basis.usage_date >= list_prices.effective_from
            and (list_prices.effective_to is null or price_basis.usage_date < list_prices.effective_to)
)

select * from priced
