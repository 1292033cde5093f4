-- Filtered group by: one month of events by customers in Germany, per channel and device.
-- The country lives on crm.customers, so the country filter is a semi-join.
SELECT channel,
       device,
       count(*) AS events
FROM web.events
WHERE ts >= '2025-03-01T00:00:00Z'
  AND ts <  '2025-04-01T00:00:00Z'
  AND customer_id IN (SELECT customer_id FROM crm.customers WHERE country = 'DE')
GROUP BY channel, device
ORDER BY channel, device
