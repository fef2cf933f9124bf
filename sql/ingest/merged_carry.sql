-- merged_carry: the trace_files rows (every column, in table order) of the per-rank virtual files of
-- merged traces whose previous rows a failed re-load keeps; merged.py carry_split marks them stale
-- and split_merged inserts them again after the root's trace_files rows were replaced.
-- Parameters: ? = root, ? = list of the virtual files' file_id
-- Rows: trace_files.*
SELECT *
FROM trace_files
WHERE root = ? AND list_contains(?, file_id);
