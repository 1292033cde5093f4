SELECT * FROM crm.customers WHERE name = 'unterminated
