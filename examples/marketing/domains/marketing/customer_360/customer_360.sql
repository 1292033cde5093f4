-- Builds marketing.customer_360: every CRM customer with order totals (cancelled orders
-- left out) and web activity, including the channel they visit through most.
WITH order_totals AS (
    SELECT
        customer_id,
        COUNT(*) AS orders_count,
        SUM(revenue_eur) AS revenue_total_eur,
        MIN(ordered_at) AS first_order_at,
        MAX(ordered_at) AS last_order_at
    FROM orders.orders
    WHERE status <> 'cancelled'
    GROUP BY customer_id
),
web_totals AS (
    SELECT
        customer_id,
        COUNT(*) AS events_count,
        COUNT(DISTINCT CAST(ts AS DATE)) AS active_days,
        MAX(ts) AS last_seen_at
    FROM web.events
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id
),
channel_counts AS (
    SELECT customer_id, channel, COUNT(*) AS visits
    FROM web.events
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id, channel
),
top_channel AS (
    SELECT
        customer_id,
        channel,
        ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY visits DESC, channel) AS channel_rank
    FROM channel_counts
)
SELECT
    c.customer_id,
    c.email,
    c.first_name,
    c.last_name,
    c.country,
    c.signup_date,
    c.lifecycle_stage,
    COALESCE(o.orders_count, 0) AS orders_count,
    round(COALESCE(o.revenue_total_eur, 0.0), 2) AS revenue_total_eur,
    CASE
        WHEN o.orders_count > 0 THEN round(o.revenue_total_eur / o.orders_count, 2)
    END AS avg_order_value_eur,
    o.first_order_at,
    o.last_order_at,
    COALESCE(w.events_count, 0) AS events_count,
    COALESCE(w.active_days, 0) AS active_days,
    w.last_seen_at,
    t.channel AS top_channel
FROM crm.customers AS c
LEFT JOIN order_totals AS o ON o.customer_id = c.customer_id
LEFT JOIN web_totals AS w ON w.customer_id = c.customer_id
LEFT JOIN top_channel AS t ON t.customer_id = c.customer_id AND t.channel_rank = 1
