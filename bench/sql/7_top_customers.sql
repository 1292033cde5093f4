-- Top-N: the 20 customers with the most events (customer_id breaks ties).
SELECT customer_id,
       count(*) AS events
FROM web.events
WHERE customer_id IS NOT NULL
GROUP BY customer_id
ORDER BY events DESC, customer_id
LIMIT 20
