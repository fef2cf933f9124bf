-- merged_files: the SGLang merged traces of a root that this load parsed, to split into per-rank
-- virtual files (split_merged.sql).
-- Parameters: ? = root
-- Rows: file_id, path
SELECT file_id, path
FROM trace_files
WHERE root = ? AND kind = 'merged' AND status = 'ok'
ORDER BY path;
