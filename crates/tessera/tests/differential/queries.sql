-- The differential test's queries (crates/tessera/tests/it/differential.rs): each is
-- answered by Tessera and by DuckDB over the demo mesh at scale 0.01, and the answers
-- must hold the same rows, value for value, after sorting.
--
-- Each query starts at a `-- name: <name>` line and runs to the next one. Write SQL that
-- both dialects read the same way:
--   - doubles: round(x, n) anything summed or averaged (summation order differs between
--     engines); decimals are compared exactly, with their scale;
--   - no integer `/` (DuckDB's is a double division): cast to DOUBLE first;
--   - date_trunc of a DATE is a timestamp in DataFusion and a DATE in DuckDB, and
--     date + interval a DATE in DataFusion and a TIMESTAMP in DuckDB: CAST(… AS DATE);
--   - avg of a decimal is a decimal in DataFusion and a DOUBLE in DuckDB: CAST the avg;
--   - ORDER BY … LIMIT only with a total order (ties broken by a key), NULLS FIRST/LAST
--     spelt out where NULLs are ordered;
--   - no intervals or lists in results (their canonical forms are not defined).

-- name: events_by_customer_country
-- Cross-domain inner join; a NULL country group (one customer has none).
SELECT c.country, e.device, count(*) AS events, count(DISTINCT e.customer_id) AS customers
FROM web.events e
JOIN crm.customers c ON e.customer_id = c.customer_id
GROUP BY c.country, e.device;

-- name: anonymous_events_left_join
-- A left join keeps anonymous events: NULL customer, NULL lifecycle stage.
SELECT c.lifecycle_stage, e.channel, count(*) AS events, count(e.customer_id) AS known,
       count(c.email) AS with_email
FROM web.events e
LEFT JOIN crm.customers c ON e.customer_id = c.customer_id
GROUP BY c.lifecycle_stage, e.channel;

-- name: order_amounts_as_decimals
-- sum, avg, min, max of decimals per country and currency (orders x customers).
SELECT c.country, o.currency, count(*) AS orders,
       sum(CAST(o.amount AS DECIMAL(12, 2))) AS amount_total,
       CAST(avg(CAST(o.amount AS DECIMAL(12, 2))) AS DECIMAL(12, 4)) AS amount_avg,
       min(CAST(o.revenue_eur AS DECIMAL(12, 2))) AS smallest_eur,
       max(CAST(o.revenue_eur AS DECIMAL(12, 2))) AS largest_eur
FROM orders.orders o
JOIN crm.customers c ON o.customer_id = c.customer_id
GROUP BY c.country, o.currency;

-- name: decimal_arithmetic
-- Decimal products and differences keep their scale (4 and 2).
SELECT status,
       sum(CAST(amount AS DECIMAL(12, 2)) * CAST(0.19 AS DECIMAL(4, 2))) AS vat,
       sum(CAST(amount AS DECIMAL(12, 2)) - CAST(revenue_eur AS DECIMAL(12, 2))) AS fx_difference,
       max(CAST(amount AS DECIMAL(12, 2)) - CAST(revenue_eur AS DECIMAL(12, 2))) AS largest_fx_difference
FROM orders.orders
GROUP BY status;

-- name: orders_rollup
-- ROLLUP adds NULL groups: subtotals per status and a grand total.
SELECT status, currency, count(*) AS orders, sum(CAST(amount AS DECIMAL(12, 2))) AS amount
FROM orders.orders
GROUP BY ROLLUP (status, currency);

-- name: monthly_order_timestamps
-- min/max of timestamps (with time zone) and dates per month.
SELECT CAST(date_trunc('month', ordered_at) AS DATE) AS month, count(*) AS orders,
       min(ordered_at) AS first_at, max(ordered_at) AS last_at,
       min(order_date) AS first_day, max(order_date) AS last_day
FROM orders.orders
GROUP BY CAST(date_trunc('month', ordered_at) AS DATE);

-- name: weekly_events_in_spring
-- date_trunc('week') (Mondays, UTC) kept as a timestamp; a timestamp range filter.
SELECT date_trunc('week', ts) AS week, channel, count(*) AS events,
       min(ts) AS first_ts, max(ts) AS last_ts
FROM web.events
WHERE ts >= TIMESTAMP '2025-03-01 00:00:00' AND ts < TIMESTAMP '2025-05-01 00:00:00'
GROUP BY date_trunc('week', ts), channel;

-- name: days_to_first_order
-- Date arithmetic: date - date in days, date + interval.
SELECT c.customer_id, c.signup_date, min(o.order_date) AS first_order_day,
       min(o.order_date) - c.signup_date AS days_to_first_order,
       CAST(c.signup_date + INTERVAL '30 days' AS DATE) AS trial_end
FROM crm.customers c
JOIN orders.orders o ON o.customer_id = c.customer_id
GROUP BY c.customer_id, c.signup_date;

-- name: signup_cohorts_having
-- extract of year and quarter, HAVING.
SELECT extract(year FROM signup_date) AS signup_year, extract(quarter FROM signup_date) AS q,
       lifecycle_stage, count(*) AS customers,
       min(signup_date) AS first_signup, max(signup_date) AS last_signup
FROM crm.customers
GROUP BY extract(year FROM signup_date), extract(quarter FROM signup_date), lifecycle_stage
HAVING count(*) >= 3;

-- name: orders_by_weekday_and_hour
-- extract of day of week (Sunday = 0) and hour (UTC) from a timestamp with time zone.
SELECT extract(dow FROM ordered_at) AS weekday, extract(hour FROM ordered_at) AS hour,
       count(*) AS orders, round(sum(revenue_eur), 2) AS revenue
FROM orders.orders
GROUP BY extract(dow FROM ordered_at), extract(hour FROM ordered_at);

-- name: distinct_counts_and_filters
-- count(DISTINCT …) over columns with NULLs, and aggregate FILTERs.
SELECT channel, count(*) AS events,
       count(DISTINCT customer_id) AS customers,
       count(DISTINCT campaign_id) AS campaigns,
       count(DISTINCT CAST(ts AS DATE)) AS days,
       count(*) FILTER (WHERE customer_id IS NULL) AS anonymous,
       count(*) FILTER (WHERE page LIKE '/checkout%') AS checkout_views
FROM web.events
GROUP BY channel;

-- name: distinct_channel_campaigns
-- SELECT DISTINCT keeps one NULL campaign per channel.
SELECT DISTINCT channel, campaign_id
FROM web.events;

-- name: first_touch_per_customer
-- row_number: each known visitor's first event (ties on ts broken by event_id).
WITH touches AS (
    SELECT customer_id, channel, campaign_id, ts,
           row_number() OVER (PARTITION BY customer_id ORDER BY ts, event_id) AS touch
    FROM web.events
    WHERE customer_id IS NOT NULL
)
SELECT customer_id, channel, coalesce(campaign_id, '(none)') AS campaign, ts AS first_touch_at
FROM touches
WHERE touch = 1;

-- name: running_revenue_per_customer
-- A running decimal sum, a partition count and lag, per customer.
SELECT customer_id, order_id, ordered_at,
       sum(CAST(revenue_eur AS DECIMAL(12, 2))) OVER (
           PARTITION BY customer_id ORDER BY ordered_at, order_id
           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running_revenue,
       count(*) OVER (PARTITION BY customer_id) AS customer_orders,
       lag(order_date) OVER (PARTITION BY customer_id ORDER BY ordered_at, order_id) AS previous_order_day
FROM orders.orders
WHERE status <> 'cancelled';

-- name: rank_within_country
-- rank and dense_rank with ties, in partitions that include a NULL country.
SELECT customer_id, country, orders_count,
       rank() OVER (PARTITION BY country ORDER BY round(revenue_total_eur, 2) DESC) AS revenue_rank,
       dense_rank() OVER (PARTITION BY country ORDER BY orders_count DESC) AS orders_rank
FROM marketing.customer_360
WHERE orders_count > 0;

-- name: top_customers
-- Top-N with a total order.
SELECT customer_id, first_name, last_name, orders_count, round(revenue_total_eur, 2) AS revenue
FROM marketing.customer_360
ORDER BY orders_count DESC, revenue_total_eur DESC, customer_id
LIMIT 15;

-- name: last_seen_top_n_nulls_first
-- Top-N over a column with NULLs, NULLs first.
SELECT customer_id, last_seen_at, top_channel
FROM marketing.customer_360
ORDER BY last_seen_at ASC NULLS FIRST, customer_id
LIMIT 12;

-- name: case_and_coalesce_buckets
-- CASE buckets, COALESCE of a NULL channel, sums of CASE, avg of doubles with NULLs.
SELECT CASE WHEN orders_count = 0 THEN 'none' WHEN orders_count < 3 THEN 'few' ELSE 'many' END AS bucket,
       coalesce(top_channel, 'unknown') AS channel,
       count(*) AS customers,
       count(first_order_at) AS buyers,
       sum(CASE WHEN email IS NULL THEN 1 ELSE 0 END) AS without_email,
       round(avg(avg_order_value_eur), 4) AS avg_order_value
FROM marketing.customer_360
GROUP BY CASE WHEN orders_count = 0 THEN 'none' WHEN orders_count < 3 THEN 'few' ELSE 'many' END,
         coalesce(top_channel, 'unknown');

-- name: nullif_greatest_least
-- NULLIF, and greatest/least over NULLs (NULL only when every argument is NULL).
SELECT customer_id,
       nullif(active_days, events_count) AS days_when_not_every_day,
       greatest(first_order_at, last_order_at, last_seen_at) AS latest_activity,
       least(signup_date, CAST(first_order_at AS DATE)) AS earliest_day,
       coalesce(last_order_at, last_seen_at) AS last_contact
FROM marketing.customer_360;

-- name: string_functions
-- lower, upper, substring, length, split_part, left, concat and || with NULLs.
SELECT customer_id, lower(first_name) AS first, upper(substring(last_name, 1, 3)) AS last3,
       length(email) AS email_length, split_part(email, '@', 2) AS email_domain,
       left(phone, 3) AS dial_code,
       concat(first_name, ' ', email) AS concat_skips_null,
       first_name || ' ' || email AS bars_keep_null
FROM crm.customers
WHERE email LIKE '%example.com' OR country IN ('DE', 'FR') OR email IS NULL;

-- name: email_domains
-- GROUP BY a string expression with a NULL group; strings filtered and measured.
SELECT lower(split_part(email, '@', 2)) AS domain, count(*) AS customers,
       min(length(last_name)) AS shortest_last_name, max(upper(country)) AS last_country
FROM crm.customers
WHERE first_name NOT LIKE 'A%'
GROUP BY lower(split_part(email, '@', 2));

-- name: december_buyers_in_subquery
-- IN (subquery).
SELECT customer_id, country, lifecycle_stage
FROM crm.customers
WHERE customer_id IN (
    SELECT customer_id FROM orders.orders
    WHERE order_date >= DATE '2025-12-01' AND status = 'delivered');

-- name: email_visitors_who_never_ordered
-- Correlated EXISTS and NOT EXISTS across three domains.
SELECT c.customer_id, c.lifecycle_stage
FROM crm.customers c
WHERE EXISTS (SELECT 1 FROM web.events e WHERE e.customer_id = c.customer_id AND e.channel = 'email')
  AND NOT EXISTS (SELECT 1 FROM orders.orders o WHERE o.customer_id = c.customer_id);

-- name: not_in_with_and_without_nulls
-- NOT IN over a subquery holding a NULL keeps no row; without the NULL it does.
SELECT 'with a NULL' AS subquery, count(*) AS customers
FROM crm.customers
WHERE customer_id NOT IN (SELECT customer_id FROM web.events WHERE channel = 'direct')
UNION ALL
SELECT 'without NULLs', count(*)
FROM crm.customers
WHERE customer_id NOT IN (
    SELECT customer_id FROM web.events WHERE channel = 'direct' AND customer_id IS NOT NULL);

-- name: activity_union_all
-- UNION ALL of three domains' activity, then aggregated.
WITH activity AS (
    SELECT 'event' AS kind, customer_id, CAST(ts AS DATE) AS day FROM web.events
    UNION ALL
    SELECT 'order', customer_id, order_date FROM orders.orders
    UNION ALL
    SELECT 'consent', customer_id, CAST(updated_at AS DATE) FROM consent.consents
)
SELECT customer_id, kind, count(*) AS n, min(day) AS first_day, max(day) AS last_day
FROM activity
WHERE customer_id IS NULL OR customer_id <= 60
GROUP BY customer_id, kind;

-- name: spend_and_revenue_full_outer_join
-- CTEs joined with FULL OUTER JOIN; a guarded double division.
WITH spend AS (
    SELECT channel, CAST(date_trunc('month', spend_date) AS DATE) AS month,
           round(sum(spend_eur), 2) AS spend, sum(clicks) AS clicks, sum(impressions) AS impressions
    FROM ads.daily_spend
    GROUP BY channel, CAST(date_trunc('month', spend_date) AS DATE)
),
revenue AS (
    SELECT channel, order_month AS month, sum(attributed_orders) AS orders,
           round(sum(attributed_revenue_eur), 2) AS revenue
    FROM marketing.attribution
    GROUP BY channel, order_month
)
SELECT coalesce(s.channel, r.channel) AS channel, coalesce(s.month, r.month) AS month,
       s.spend, s.clicks, r.orders, r.revenue,
       CASE WHEN s.impressions > 0 THEN round(CAST(s.clicks AS DOUBLE) / s.impressions, 6) END AS ctr
FROM spend s
FULL OUTER JOIN revenue r ON s.channel = r.channel AND s.month = r.month;

-- name: latest_consent_booleans
-- The latest consent per customer (row_number), booleans grouped and aggregated.
WITH ranked AS (
    SELECT customer_id, purpose, granted, updated_at,
           row_number() OVER (PARTITION BY customer_id ORDER BY updated_at DESC, purpose) AS rn
    FROM consent.consents
)
SELECT r.purpose, r.granted, c.country, count(*) AS customers,
       min(r.updated_at) AS earliest, max(r.updated_at) AS latest
FROM ranked r
LEFT JOIN crm.customers c ON c.customer_id = r.customer_id
WHERE r.rn = 1
GROUP BY r.purpose, r.granted, c.country;

-- name: consent_bool_aggregates
-- bool_and / bool_or per country, including the NULL country.
SELECT c.country, bool_or(s.granted) AS any_granted, bool_and(s.granted) AS all_granted,
       count(*) AS consents, count(DISTINCT s.purpose) AS purposes
FROM consent.consents s
JOIN crm.customers c ON c.customer_id = s.customer_id
GROUP BY c.country;

-- name: segments_having
-- avg of integers (a double in both), sums, max of a column with NULLs, HAVING.
SELECT segment, marketing_consent, count(*) AS customers, sum(orders_count) AS orders,
       round(sum(revenue_total_eur), 2) AS revenue, max(days_since_last_order) AS max_days,
       avg(orders_count) AS avg_orders, min(as_of_date) AS as_of
FROM marketing.segments
GROUP BY segment, marketing_consent
HAVING count(*) > 1;

-- name: revenue_share_scalar_subquery
-- A scalar subquery in the SELECT list.
SELECT country,
       round(sum(revenue_total_eur) / (SELECT sum(revenue_total_eur) FROM marketing.customer_360), 6) AS share
FROM marketing.customer_360
GROUP BY country;

-- name: july_product_pages
-- Timestamp BETWEEN, LIKE, <> on strings.
SELECT page, device, count(*) AS views, count(DISTINCT customer_id) AS visitors
FROM web.events
WHERE ts BETWEEN TIMESTAMP '2025-07-01 00:00:00' AND TIMESTAMP '2025-07-31 23:59:59.999999'
  AND page LIKE '/p/%'
  AND device <> 'tablet'
GROUP BY page, device;

-- name: timestamp_arithmetic
-- Timestamp + interval, date_trunc('hour'), cast of a timestamp to a date.
SELECT order_id, ordered_at + INTERVAL '90 minutes' AS later,
       date_trunc('hour', ordered_at + INTERVAL '90 minutes') AS later_hour,
       CAST(ordered_at AS DATE) = order_date AS same_day
FROM orders.orders
WHERE customer_id <= 25;

-- name: campaign_channel_mismatch
-- IS DISTINCT FROM against a left join's NULLs.
SELECT e.channel, c.channel AS campaign_channel, count(*) AS events
FROM web.events e
LEFT JOIN ads.campaigns c ON e.campaign_id = c.campaign_id
WHERE e.channel IS DISTINCT FROM c.channel
GROUP BY e.channel, c.channel;

-- name: customer_360_against_raw_events
-- A consumer-aligned product checked against its source-aligned input.
SELECT m.customer_id, m.events_count, count(e.event_id) AS counted,
       m.last_seen_at, max(e.ts) AS last_ts, count(DISTINCT CAST(e.ts AS DATE)) AS active_days
FROM marketing.customer_360 m
LEFT JOIN web.events e ON e.customer_id = m.customer_id
GROUP BY m.customer_id, m.events_count, m.last_seen_at;

-- name: ordered_string_agg
-- string_agg in a given order.
SELECT customer_id, string_agg(channel, ',' ORDER BY ts, event_id) AS journey
FROM web.events
WHERE customer_id <= 30
GROUP BY customer_id;

-- name: weekly_mmm_windows
-- A moving average over rows (of decimals: over doubles, a sliding window's running sum
-- drifts by a few ulps, DataFusion's more than DuckDB's, and a round() at a tie such as
-- 2397.575 then goes either way), a running total, lead.
SELECT week_start, channel, total_orders,
       CAST(avg(CAST(total_revenue_eur AS DECIMAL(12, 2))) OVER (
           PARTITION BY channel ORDER BY week_start ROWS BETWEEN 3 PRECEDING AND CURRENT ROW)
           AS DECIMAL(12, 4)) AS revenue_4w,
       sum(clicks) OVER (PARTITION BY channel ORDER BY week_start
           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS clicks_to_date,
       lead(week_start) OVER (PARTITION BY channel ORDER BY week_start) AS next_week
FROM marketing.mmm_weekly;

-- name: aggregates_over_no_rows
-- Aggregates without GROUP BY over no rows: one row, count 0, every other value NULL.
SELECT count(*) AS n, count(customer_id) AS with_customer,
       sum(CAST(amount AS DECIMAL(12, 2))) AS amount, avg(amount) AS average,
       min(ordered_at) AS first_at, max(order_date) AS last_day, bool_or(status = 'placed') AS any_placed
FROM orders.orders
WHERE order_date < DATE '2000-01-01';

-- name: in_and_not_in_with_null_probes
-- NULL on the probe side: NULL IN (…) and NULL NOT IN (…) are both NULL, so events of no
-- campaign (NULL campaign_id) are in neither count; a simple CASE never matches NULL.
-- (Written as three WHERE clauses: DataFusion cannot plan IN (subquery) inside an
-- aggregate's FILTER, "Physical plan does not support logical expression InSubquery".)
SELECT 'in' AS probe, e.channel, count(*) AS events
FROM web.events e
WHERE e.campaign_id IN (SELECT campaign_id FROM ads.campaigns WHERE objective = 'conversion')
GROUP BY e.channel
UNION ALL
SELECT 'not in', e.channel, count(*)
FROM web.events e
WHERE e.campaign_id NOT IN (SELECT campaign_id FROM ads.campaigns WHERE objective = 'conversion')
GROUP BY e.channel
UNION ALL
SELECT 'all', e.channel, count(*)
FROM web.events e
GROUP BY e.channel
UNION ALL
SELECT 'case when null', e.channel, sum(CASE e.campaign_id WHEN NULL THEN 1 ELSE 0 END)
FROM web.events e
GROUP BY e.channel;

-- name: set_operations_treat_nulls_as_equal
-- EXCEPT, INTERSECT and UNION treat NULLs as equal (one NULL row survives).
SELECT 'visited, never ordered' AS kind, customer_id
FROM (SELECT customer_id FROM web.events EXCEPT SELECT customer_id FROM orders.orders) AS v
UNION ALL
SELECT 'visited and consented', customer_id
FROM (SELECT customer_id FROM web.events INTERSECT SELECT customer_id FROM consent.consents) AS b
UNION ALL
SELECT 'a country or a domain', NULL
FROM (SELECT country AS x FROM crm.customers UNION SELECT channel FROM web.events) AS u
WHERE x IS NULL;

-- name: window_frames_with_peers
-- The default frame (RANGE … CURRENT ROW) includes peers: orders on the same day count
-- together. ntile and cume_dist over a total order.
SELECT customer_id, order_id, order_date,
       count(*) OVER (PARTITION BY customer_id ORDER BY order_date) AS orders_to_day,
       sum(CAST(amount AS DECIMAL(12, 2))) OVER (PARTITION BY customer_id ORDER BY order_date) AS amount_to_day,
       ntile(4) OVER (PARTITION BY customer_id ORDER BY ordered_at, order_id) AS quartile,
       round(cume_dist() OVER (PARTITION BY customer_id ORDER BY order_date), 6) AS cume,
       first_value(order_id) OVER (PARTITION BY customer_id ORDER BY ordered_at, order_id) AS first_order
FROM orders.orders
WHERE customer_id <= 120;
