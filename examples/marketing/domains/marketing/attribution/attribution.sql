-- Builds marketing.attribution: each (not cancelled) order is credited to the buyer's last
-- web visit with a campaign in the 30 days before it; orders without one go to 'direct'.
-- Revenue is summed per month, channel and campaign, next to the campaign's spend.
WITH paid_orders AS (
    SELECT order_id, customer_id, ordered_at, revenue_eur
    FROM orders.orders
    WHERE status <> 'cancelled'
),
touches AS (
    SELECT
        o.order_id,
        e.channel,
        e.campaign_id,
        ROW_NUMBER() OVER (
            PARTITION BY o.order_id
            ORDER BY e.ts DESC, e.event_id DESC
        ) AS recency
    FROM paid_orders AS o
    JOIN web.events AS e
        ON e.customer_id = o.customer_id
       AND e.ts <= o.ordered_at
       AND e.ts > o.ordered_at - INTERVAL '30 days'
    WHERE e.campaign_id IS NOT NULL
),
credited AS (
    SELECT
        CAST(date_trunc('month', o.ordered_at) AS DATE) AS order_month,
        COALESCE(t.channel, 'direct') AS channel,
        t.campaign_id AS campaign_id,
        o.revenue_eur
    FROM paid_orders AS o
    LEFT JOIN touches AS t ON t.order_id = o.order_id AND t.recency = 1
),
revenue AS (
    SELECT
        order_month,
        channel,
        campaign_id,
        COUNT(*) AS attributed_orders,
        SUM(revenue_eur) AS attributed_revenue_eur
    FROM credited
    GROUP BY order_month, channel, campaign_id
),
monthly_spend AS (
    SELECT
        CAST(date_trunc('month', CAST(spend_date AS TIMESTAMP)) AS DATE) AS spend_month,
        campaign_id,
        SUM(spend_eur) AS spend_eur
    FROM ads.daily_spend
    GROUP BY CAST(date_trunc('month', CAST(spend_date AS TIMESTAMP)) AS DATE), campaign_id
)
SELECT
    r.order_month,
    r.channel,
    r.campaign_id,
    c.name AS campaign_name,
    r.attributed_orders,
    round(r.attributed_revenue_eur, 2) AS attributed_revenue_eur,
    round(COALESCE(s.spend_eur, 0.0), 2) AS spend_eur,
    CASE
        WHEN s.spend_eur > 0 THEN round(r.attributed_revenue_eur / s.spend_eur, 4)
    END AS roas
FROM revenue AS r
LEFT JOIN ads.campaigns AS c ON c.campaign_id = r.campaign_id
LEFT JOIN monthly_spend AS s
    ON s.campaign_id = r.campaign_id
   AND s.spend_month = r.order_month
