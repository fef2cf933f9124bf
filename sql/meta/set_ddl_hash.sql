-- set_ddl_hash: record the schema hash the derived tables now match.
-- Parameters: ? = hash
INSERT OR REPLACE INTO schema_info VALUES ('ddl_hash', ?);
