INSERT INTO crm.customers VALUES (1)
