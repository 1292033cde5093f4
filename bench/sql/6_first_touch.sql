-- Window function: each customer's first touch (earliest event; event_id breaks ties),
-- counted per channel.
SELECT channel,
       count(*) AS customers
FROM (
    SELECT channel,
           row_number() OVER (PARTITION BY customer_id ORDER BY ts, event_id) AS touch
    FROM web.events
    WHERE customer_id IS NOT NULL
) first_touches
WHERE touch = 1
GROUP BY channel
ORDER BY channel
