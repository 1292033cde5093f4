-- Every output port promises how fresh its data is: a `latency` (ODCS' freshness) or `frequency` SLA in its contract.
-- severity: warning
SELECT domain, product, port, 'no freshness SLA: add slaProperties [{property: latency, value: 1, unit: d}] to the contract' AS message
FROM mesh_meta.ports
WHERE NOT (array_has(sla, 'latency') OR array_has(sla, 'frequency') OR array_has(sla, 'freshness'))
