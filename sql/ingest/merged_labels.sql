-- merged_labels: the distinct rank labels in the pids of one merged trace's rows, over every event
-- table with a pid column (the tables of split_merged.sql; tests/test_ingest_sql.py checks both
-- lists): '[TP01-EP01] 6584' → 'TP01-EP01'; '' for a bracketed pid that names no rank
-- ('[Unknown] …'). Upstream format: split_merged.sql's header.
-- Parameters: $file_id = the merged file
-- Rows: label
SELECT DISTINCT regexp_extract(pid, '^\[((?:TP|DP|PP|EP)\d+(?:-(?:TP|DP|PP|EP)\d+)*)\] ', 1) AS label
FROM (
    SELECT pid FROM annotations WHERE file_id = $file_id AND starts_with(pid, '[')
    UNION ALL SELECT pid FROM cpu_ops WHERE file_id = $file_id AND starts_with(pid, '[')
    UNION ALL SELECT pid FROM gpu_memops WHERE file_id = $file_id AND starts_with(pid, '[')
    UNION ALL SELECT pid FROM kernels WHERE file_id = $file_id AND starts_with(pid, '[')
    UNION ALL SELECT pid FROM launches WHERE file_id = $file_id AND starts_with(pid, '[')
    UNION ALL SELECT pid FROM python_frames WHERE file_id = $file_id AND starts_with(pid, '[')
    UNION ALL SELECT pid FROM trace_meta WHERE file_id = $file_id AND starts_with(pid, '[')
);
