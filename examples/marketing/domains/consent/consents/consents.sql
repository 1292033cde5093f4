-- Builds consent.consents: the latest decision per customer and purpose, so a
-- withdrawal (a later record with granted = false) replaces the earlier grant.
WITH ranked AS (
    SELECT
        customer_id,
        lower(trim(purpose)) AS purpose,
        granted,
        ts,
        source,
        ROW_NUMBER() OVER (
            PARTITION BY customer_id, lower(trim(purpose))
            ORDER BY ts DESC
        ) AS recency
    FROM consent.raw_consents
    WHERE customer_id IS NOT NULL
      AND lower(trim(purpose)) IN ('marketing', 'analytics', 'personalization')
)
SELECT
    customer_id,
    purpose,
    granted,
    ts AS updated_at,
    source
FROM ranked
WHERE recency = 1
