SELECT order_id, CAST(amount AS DECIMAL(10, 2)) AS amount FROM shop.raw_orders
