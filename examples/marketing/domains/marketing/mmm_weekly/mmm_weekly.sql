-- Builds marketing.mmm_weekly: spend per ISO week (starting Monday) and channel, next to
-- the week's orders and revenue (cancelled orders left out).
WITH daily AS (
    SELECT
        CAST(date_trunc('week', CAST(spend_date AS TIMESTAMP)) AS DATE) AS week_start,
        channel,
        spend_eur,
        impressions,
        clicks
    FROM ads.daily_spend
),
weekly_spend AS (
    SELECT
        week_start,
        channel,
        SUM(spend_eur) AS spend_eur,
        SUM(impressions) AS impressions,
        SUM(clicks) AS clicks
    FROM daily
    GROUP BY week_start, channel
),
weekly_revenue AS (
    SELECT
        week_start,
        COUNT(*) AS total_orders,
        SUM(revenue_eur) AS total_revenue_eur
    FROM (
        SELECT CAST(date_trunc('week', ordered_at) AS DATE) AS week_start, revenue_eur
        FROM orders.orders
        WHERE status <> 'cancelled'
    ) AS paid
    GROUP BY week_start
)
SELECT
    s.week_start,
    s.channel,
    round(s.spend_eur, 2) AS spend_eur,
    s.impressions,
    s.clicks,
    COALESCE(r.total_orders, 0) AS total_orders,
    round(COALESCE(r.total_revenue_eur, 0.0), 2) AS total_revenue_eur
FROM weekly_spend AS s
LEFT JOIN weekly_revenue AS r ON r.week_start = s.week_start
