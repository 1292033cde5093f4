-- Builds crm.customers from the CRM export: emails lower-cased (malformed or missing
-- ones become NULL), countries upper-cased (unknown ones NULL), lifecycle stages
-- normalised to lower case.
SELECT
    customer_id,
    CASE
        WHEN regexp_like(lower(trim(email)), '^[^@ ]+@[^@ ]+[.][a-z]{2,}$') THEN lower(trim(email))
    END AS email,
    trim(first_name) AS first_name,
    trim(last_name) AS last_name,
    trim(phone) AS phone,
    CASE
        WHEN upper(trim(country)) IN ('DE', 'FR', 'GB', 'US', 'NL', 'ES', 'IT', 'SE', 'PL', 'BE', 'AT', 'CH')
            THEN upper(trim(country))
    END AS country,
    signup_date,
    lower(trim(lifecycle_stage)) AS lifecycle_stage
FROM crm.raw_customers
WHERE customer_id IS NOT NULL
