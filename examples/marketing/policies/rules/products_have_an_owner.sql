-- Every data product names its owning team (team.name in dataproduct.yaml).
-- severity: error
SELECT domain, product, 'no owning team: add team.name and its members to dataproduct.yaml' AS message
FROM mesh_meta.products
WHERE team IS NULL OR trim(team) = ''
