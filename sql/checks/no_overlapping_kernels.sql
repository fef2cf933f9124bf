-- no_overlapping_kernels: kernels on one (file, stream) run one after another.
-- A kernel overlaps when it starts more than `tolerance_ns` before the latest end of the kernels
-- that started before it on the same file and stream (ties broken by event order).
-- Parameters: ? = trace_roots.root, ? = tolerance_ns (1000 = 1 µs)
-- One row:
--   kernels_checked   BIGINT  kernels of the root
--   overlapping       BIGINT  kernels that overlap an earlier one by more than the tolerance
--   max_overlap_ns    BIGINT  the largest such overlap (0 when none)
--   streams_affected  BIGINT  distinct (file, stream) pairs with an overlap
WITH files AS (
    SELECT file_id FROM trace_files WHERE root = ?
),
ordered AS (
    SELECT k.file_id, k.stream, k.ts_ns,
           max(k.ts_ns + k.dur_ns) OVER (
               PARTITION BY k.file_id, k.stream ORDER BY k.ts_ns, k.ev
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ) AS prev_end
    FROM kernels k JOIN files USING (file_id)
),
params AS (SELECT CAST(? AS BIGINT) AS tolerance_ns)
SELECT
    count(*)                                                                   AS kernels_checked,
    count(*) FILTER (WHERE prev_end - ts_ns > tolerance_ns)                    AS overlapping,
    coalesce(max(prev_end - ts_ns) FILTER (WHERE prev_end - ts_ns > tolerance_ns), 0) AS max_overlap_ns,
    count(DISTINCT (file_id, stream)) FILTER (WHERE prev_end - ts_ns > tolerance_ns) AS streams_affected
FROM ordered, params;
