-- ddl_hash: the schema hash recorded by the last check (no row on a new warehouse).
SELECT value FROM schema_info WHERE key = 'ddl_hash';
