-- A classified column (other than public or internal) needs a masking method in mesh.yaml
-- (`masking: {<classification>: hash|partial|redact|null|generalize}`), so that policies can show it masked.
-- severity: error
SELECT domain, product, port, column_name, classification
FROM mesh_meta.columns
WHERE classification IS NOT NULL
  AND classification NOT IN ('public', 'internal')
  AND masking IS NULL
