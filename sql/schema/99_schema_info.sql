-- schema_info: facts about the warehouse itself.
CREATE TABLE IF NOT EXISTS schema_info (
    key   TEXT PRIMARY KEY,
    value TEXT
);
COMMENT ON COLUMN schema_info.key IS 'ddl_hash: hash of the sql/schema text the derived tables were last checked against';
COMMENT ON COLUMN schema_info.value IS 'the value';
