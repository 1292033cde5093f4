-- Group by channel: events, known customers and campaign-tagged events per channel.
SELECT channel,
       count(*)           AS events,
       count(customer_id) AS with_customer,
       count(campaign_id) AS with_campaign
FROM web.events
GROUP BY channel
ORDER BY channel
