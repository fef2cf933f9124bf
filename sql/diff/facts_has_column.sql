-- facts_has_column: whether kernel_facts has a column (the diff matches by `slot` where it exists).
-- Parameters: ? = column name
-- One row: present BOOLEAN
SELECT count(*) > 0 AS present
FROM duckdb_columns()
WHERE schema_name = 'main' AND table_name = 'kernel_facts' AND column_name = ?;
