-- delete_files: remove the rows of files a root load replaces or drops, from every table keyed by
-- file_id (raw event tables and kernel_facts; trace_files itself is replace_root_files.sql).
-- One statement per table: a new table with a file_id column adds its line here
-- (tests/test_ingest_sql.py checks every table of pipeline.store.file_tables() is listed).
-- Run by pipeline/ingest/load.py inside the root's load transaction.
-- Parameters: ? = list of trace_files.file_id (each statement)
DELETE FROM annotations WHERE list_contains(?, file_id);
DELETE FROM cpu_ops WHERE list_contains(?, file_id);
DELETE FROM gpu_memops WHERE list_contains(?, file_id);
DELETE FROM kernel_facts WHERE list_contains(?, file_id);
DELETE FROM kernels WHERE list_contains(?, file_id);
DELETE FROM launches WHERE list_contains(?, file_id);
DELETE FROM layerwise_nodes WHERE list_contains(?, file_id);
DELETE FROM python_frames WHERE list_contains(?, file_id);
DELETE FROM trace_meta WHERE list_contains(?, file_id);
