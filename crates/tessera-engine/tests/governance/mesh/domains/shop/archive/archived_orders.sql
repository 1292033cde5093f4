SELECT order_id FROM shop.raw_orders
