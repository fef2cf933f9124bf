-- merged_left: the kernels of a merged trace that no rank label claimed (they stay with the merged
-- file after split_merged.sql; its note names them).
-- Parameters: ? = merged file_id
-- Rows: one, the count
SELECT count(*)
FROM kernels
WHERE file_id = ?;
