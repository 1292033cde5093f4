SELECT id, name, email, country, signup_date FROM shop.raw_customers
