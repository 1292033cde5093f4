-- Count distinct: unique known customers among all events.
SELECT count(DISTINCT customer_id) AS customers
FROM web.events
