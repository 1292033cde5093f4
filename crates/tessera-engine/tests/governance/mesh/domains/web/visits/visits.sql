SELECT visit_id, customer_id, ts, channel FROM web.raw_visits
