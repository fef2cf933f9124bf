-- columns: a warehouse table's columns with their types and comments (COMMENT ON COLUMN), in order;
-- the Dagster column schema of each asset's table.
-- Parameters: ? = table name
SELECT column_name, data_type, comment
FROM duckdb_columns()
WHERE schema_name = 'main' AND table_name = ?
ORDER BY column_index;
