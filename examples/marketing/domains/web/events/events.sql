-- Builds web.events: each event once (the collector's retries removed), channels
-- lower-cased and mapped to `other` when outside the tagging plan.
WITH numbered AS (
    SELECT
        event_id,
        customer_id,
        ts,
        lower(trim(channel)) AS channel,
        campaign_id,
        page,
        lower(trim(device)) AS device,
        ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ts) AS copy
    FROM web.raw_events
)
SELECT
    event_id,
    customer_id,
    ts,
    CASE
        WHEN channel IN ('search', 'social', 'email', 'display', 'affiliate', 'direct') THEN channel
        ELSE 'other'
    END AS channel,
    campaign_id,
    page,
    device
FROM numbered
WHERE copy = 1
