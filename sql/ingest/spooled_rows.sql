-- spooled_rows: one table's rows of one parsed file, read back from its Parquet spool folder with
-- ts_ns shifted to absolute time (pipeline/ingest/load.py _copy_rows inserts them into the table of
-- the folder's name; tables without ts_ns, trace_meta and layerwise_nodes, are read as they are).
-- Parameters: $base = the file's base time in ns (0 when its timestamps are absolute),
--             $path = the folder's Parquet files ('<spool>/<file_id>/<table>/*.parquet')
-- Rows: the table's columns in sql/schema order, as the converters wrote them
SELECT * REPLACE (ts_ns + $base AS ts_ns)
FROM read_parquet($path);
