-- Builds ads.daily_spend: re-sent rows removed, refunds (negative spend) and rows with
-- more clicks than impressions left out.
SELECT DISTINCT
    spend_date,
    campaign_id,
    lower(trim(channel)) AS channel,
    spend AS spend_eur,
    impressions,
    clicks
FROM ads.raw_daily_spend
WHERE spend >= 0
  AND clicks <= impressions
