SELECT c.country, count(*) AS orders, sum(o.amount) AS revenue
FROM shop.orders o
JOIN shop.customers c ON c.id = o.customer_id
WHERE o.status = 'paid'
GROUP BY c.country
