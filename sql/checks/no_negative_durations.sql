-- no_negative_durations: no GPU activity of a root has a negative or missing duration.
-- Parameters: ? = trace_roots.root (used three times)
-- One row:
--   kernels_negative  BIGINT  `kernels` rows with dur_ns < 0 or NULL
--   memops_negative   BIGINT  `gpu_memops` rows with dur_ns < 0 or NULL
--   facts_negative    BIGINT  `kernel_facts` rows with dur_ns < 0 or NULL
--   rows_checked      BIGINT  kernels + gpu_memops rows of the root
WITH files AS (
    SELECT file_id FROM trace_files WHERE root = ?
)
SELECT
    (SELECT count(*) FROM kernels JOIN files USING (file_id) WHERE dur_ns IS NULL OR dur_ns < 0)    AS kernels_negative,
    (SELECT count(*) FROM gpu_memops JOIN files USING (file_id) WHERE dur_ns IS NULL OR dur_ns < 0) AS memops_negative,
    (SELECT count(*) FROM kernel_facts WHERE root = ? AND (dur_ns IS NULL OR dur_ns < 0))          AS facts_negative,
    (SELECT count(*) FROM kernels JOIN files USING (file_id))
      + (SELECT count(*) FROM gpu_memops JOIN files USING (file_id))                               AS rows_checked
;
