-- kernels_match_trace_files: the kernel rows loaded for a root equal what the parser counted.
-- Parameters: ? = trace_roots.root
-- One row:
--   files_ok          BIGINT  loaded kineto files of the root (status 'ok')
--   expected_kernels  BIGINT  sum of trace_files.kernels over those files
--   loaded_kernels    BIGINT  rows in `kernels` for those files
--   files_mismatched  BIGINT  files whose kernel row count differs from trace_files.kernels
WITH files AS (
    SELECT file_id, coalesce(kernels, 0) AS expected
    FROM trace_files
    WHERE root = ? AND status = 'ok' AND kind <> 'layerwise'
),
loaded AS (
    SELECT k.file_id, count(*) AS n
    FROM kernels k JOIN files f USING (file_id)
    GROUP BY k.file_id
)
SELECT
    count(*)                                                   AS files_ok,
    coalesce(sum(f.expected), 0)                               AS expected_kernels,
    coalesce(sum(coalesce(l.n, 0)), 0)                         AS loaded_kernels,
    count(*) FILTER (WHERE f.expected <> coalesce(l.n, 0))     AS files_mismatched
FROM files f LEFT JOIN loaded l USING (file_id);
