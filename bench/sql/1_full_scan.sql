-- Full scan: every column of every event is read (an aggregate per column, so the
-- result is one row and neither engine can skip a column).
SELECT count(*)                     AS events,
       sum(event_id)                AS event_id_sum,
       count(customer_id)           AS with_customer,
       min(ts)                      AS first_ts,
       max(ts)                      AS last_ts,
       sum(length(channel))         AS channel_chars,
       count(campaign_id)           AS with_campaign,
       sum(length(page))            AS page_chars,
       sum(length(device))          AS device_chars
FROM web.events
