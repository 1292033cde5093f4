-- Builds orders.orders: replayed rows removed, non-positive amounts and unknown
-- currencies left out, statuses lower-cased, revenue converted to EUR at fixed rates.
WITH numbered AS (
    SELECT
        order_id,
        customer_id,
        ordered_at,
        amount,
        upper(trim(currency)) AS currency,
        lower(trim(status)) AS status,
        ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY ordered_at) AS copy
    FROM orders.raw_orders
    WHERE amount > 0
      AND customer_id IS NOT NULL
)
SELECT
    order_id,
    customer_id,
    ordered_at,
    CAST(ordered_at AS DATE) AS order_date,
    amount,
    currency,
    round(
        amount * CASE currency WHEN 'EUR' THEN 1.0 WHEN 'USD' THEN 0.92 WHEN 'GBP' THEN 1.17 END,
        2
    ) AS revenue_eur,
    status
FROM numbered
WHERE copy = 1
  AND currency IN ('EUR', 'USD', 'GBP')
