-- all_columns: every table of the main schema with its column names in order.
SELECT table_name, list(column_name ORDER BY column_index) AS columns
FROM duckdb_columns()
WHERE schema_name = 'main'
GROUP BY table_name;
