-- no_overlapping_kernels: kernels on one (file, stream) run one after another, except where
-- programmatic dependent launch (PDL) explains the overlap.
-- A kernel overlaps when it starts more than `tolerance_ns` before the latest end of the kernels
-- that started before it on the same file and stream (ties broken by event order). PDL (CUDA
-- compute capability 9.0 and later: Hopper, Blackwell) lets a dependent kernel start while its
-- predecessor runs; the dependent waits for the predecessor to finish, so its record ends after
-- the predecessor's. An overlap is *unexplained* (the check fails) when
--   - the kernel ends no later than what it started under (contained: not PDL's shape), or
--   - its device cannot do PDL: deviceProperties of the file (trace_files.metadata) give it a
--     compute capability below 9.0, or name an AMD device. A device without properties is
--     given the benefit of the doubt.
-- Parameters: ? = trace_roots.root, ? = trace_roots.root, ? = tolerance_ns (1000 = 1 µs)
-- One row:
--   kernels_checked   BIGINT  kernels of the root
--   overlapping       BIGINT  kernels that overlap an earlier one by more than the tolerance
--   pdl_overlaps      BIGINT  of those, the ones PDL explains (they outlast it, PDL-capable device)
--   contained         BIGINT  overlapping kernels that end no later than what they started under
--   no_pdl_device     BIGINT  overlapping kernels on a device without PDL
--   unexplained       BIGINT  overlapping kernels that are contained or on a device without PDL
--   max_overlap_ns    BIGINT  the largest unexplained overlap (0 when none)
--   streams_affected  BIGINT  distinct (file, stream) pairs with an unexplained overlap
WITH files AS (
    SELECT file_id FROM trace_files WHERE root = ?
),
devices AS (
    SELECT f.file_id,
           CAST(json_extract_string(d.value, '$.id') AS BIGINT) AS device,
           coalesce(CAST(json_extract_string(d.value, '$.computeMajor') AS INTEGER), 0) >= 9
               AND coalesce(json_extract_string(d.value, '$.name'), '') NOT SIMILAR TO '.*(AMD|Instinct|Radeon).*'
               AS pdl_capable
    FROM trace_files f, json_each(json_extract(f.metadata, '$.deviceProperties')) d
    WHERE f.root = ?
),
ordered AS (
    SELECT k.file_id, k.stream, k.ts_ns, k.ts_ns + k.dur_ns AS end_ns,
           coalesce(dv.pdl_capable, true) AS pdl_capable,
           max(k.ts_ns + k.dur_ns) OVER (
               PARTITION BY k.file_id, k.stream ORDER BY k.ts_ns, k.ev
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ) AS prev_end
    FROM kernels k JOIN files USING (file_id)
    LEFT JOIN devices dv ON dv.file_id = k.file_id AND dv.device = k.device
),
params AS (SELECT CAST(? AS BIGINT) AS tolerance_ns),
judged AS (
    SELECT *, prev_end - ts_ns > tolerance_ns AS is_overlap,
           prev_end - ts_ns > tolerance_ns AND end_ns <= prev_end AS is_contained,
           prev_end - ts_ns > tolerance_ns AND NOT pdl_capable AS on_no_pdl
    FROM ordered, params
)
SELECT
    count(*)                                                                      AS kernels_checked,
    count(*) FILTER (WHERE is_overlap)                                              AS overlapping,
    count(*) FILTER (WHERE is_overlap AND NOT is_contained AND NOT on_no_pdl)       AS pdl_overlaps,
    count(*) FILTER (WHERE is_contained)                                          AS contained,
    count(*) FILTER (WHERE on_no_pdl)                                             AS no_pdl_device,
    count(*) FILTER (WHERE is_contained OR on_no_pdl)                             AS unexplained,
    coalesce(max(prev_end - ts_ns) FILTER (WHERE is_contained OR on_no_pdl), 0)   AS max_overlap_ns,
    count(DISTINCT (file_id, stream)) FILTER (WHERE is_contained OR on_no_pdl)    AS streams_affected
FROM judged;
