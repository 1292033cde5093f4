-- Builds marketing.segments: one segment per customer from order recency, frequency and
-- value, measured against the latest order in the data; plus the marketing consent.
--   prospect           no order
--   high_value_lapsed  no order for 90 days, revenue of 500 EUR or more
--   lapsed             no order for 90 days
--   new                first order in the last 30 days
--   loyal              5 orders or more
--   active             everyone else
WITH reference AS (
    SELECT MAX(last_order_at) AS as_of
    FROM marketing.customer_360
),
marketing_consent AS (
    SELECT customer_id, granted
    FROM consent.consents
    WHERE purpose = 'marketing'
),
scored AS (
    SELECT
        c.customer_id,
        c.orders_count,
        c.revenue_total_eur,
        c.first_order_at,
        c.last_order_at,
        r.as_of,
        COALESCE(m.granted, false) AS marketing_consent
    FROM marketing.customer_360 AS c
    CROSS JOIN reference AS r
    LEFT JOIN marketing_consent AS m ON m.customer_id = c.customer_id
)
SELECT
    customer_id,
    CASE
        WHEN orders_count = 0 THEN 'prospect'
        WHEN last_order_at < as_of - INTERVAL '90 days' AND revenue_total_eur >= 500 THEN 'high_value_lapsed'
        WHEN last_order_at < as_of - INTERVAL '90 days' THEN 'lapsed'
        WHEN first_order_at >= as_of - INTERVAL '30 days' THEN 'new'
        WHEN orders_count >= 5 THEN 'loyal'
        ELSE 'active'
    END AS segment,
    orders_count,
    revenue_total_eur,
    CAST(
        floor((date_part('epoch', as_of) - date_part('epoch', last_order_at)) / 86400) AS BIGINT
    ) AS days_since_last_order,
    marketing_consent,
    CAST(as_of AS DATE) AS as_of_date
FROM scored
