-- Builds ads.campaigns: flights with swapped dates put back in order.
SELECT
    campaign_id,
    trim(name) AS name,
    lower(trim(channel)) AS channel,
    lower(trim(objective)) AS objective,
    CASE WHEN end_date < start_date THEN end_date ELSE start_date END AS start_date,
    CASE WHEN end_date < start_date THEN start_date ELSE end_date END AS end_date,
    daily_budget_eur
FROM ads.raw_campaigns
