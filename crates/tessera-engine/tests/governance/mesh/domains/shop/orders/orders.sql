SELECT order_id, customer_id, CAST(amount AS DECIMAL(10, 2)) AS amount, ordered_at, status FROM shop.raw_orders
