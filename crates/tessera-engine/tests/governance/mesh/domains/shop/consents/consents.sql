SELECT customer_id, purpose, granted, updated_at FROM shop.raw_consents
