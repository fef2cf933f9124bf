-- root_files: the loaded files whose facts a root build attributes (ids from attribute.ok_file_ids).
-- Parameters: ? = list of trace_files.file_id
-- Rows: file_id, path, role (mapping | formal | single), rank (NULL when unknown)
SELECT file_id, path, role, rank
FROM trace_files
WHERE list_contains(?, file_id);
