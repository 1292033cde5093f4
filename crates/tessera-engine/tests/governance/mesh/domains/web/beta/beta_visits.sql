SELECT visit_id FROM web.raw_visits
