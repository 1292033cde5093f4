-- Every output port promises how fresh its data is (a `freshness` or `latency` SLA in its contract).
-- severity: warning
SELECT domain, product, port, 'no freshness SLA: add slaProperties [{property: freshness, value: 1, unit: d}] to the contract' AS message
FROM mesh_meta.ports
WHERE NOT (array_has(sla, 'freshness') OR array_has(sla, 'latency'))
