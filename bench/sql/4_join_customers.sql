-- Join: every event with its customer (10M events × 500k customers at scale 10), events
-- per country and lifecycle stage.
SELECT c.country,
       c.lifecycle_stage,
       count(*) AS events
FROM web.events e
JOIN crm.customers c ON c.customer_id = e.customer_id
GROUP BY c.country, c.lifecycle_stage
ORDER BY c.country, c.lifecycle_stage
