-- file_meta: the root and discovery stage of each file being attributed.
-- Parameters: ? = list of trace_files.file_id
SELECT file_id, root, stage
FROM trace_files
WHERE list_contains(?, file_id);
