-- merged_parent: after the split, the merged file keeps only what no rank label claimed; its
-- kernels count is recounted and its note says where the rest went.
-- Parameters: ? = merged file_id, ? = note, ? = merged file_id
UPDATE trace_files
SET kernels = (SELECT count(*) FROM kernels WHERE file_id = ?),
    note = ?
WHERE file_id = ?;
