SELECT id,
FROM crm.customers
WHERE
