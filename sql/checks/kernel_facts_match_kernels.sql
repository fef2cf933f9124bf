-- kernel_facts_match_kernels: the facts hold every kernel of every loaded file of the root, every
-- rank and mapping traces included, once, with its duration. Compares `kernels` with
-- `kernel_facts` (kind = 'kernel') per file; a loaded file with kernels but no facts fails too.
-- Parameters: ? = trace_roots.root (used twice)
-- One row:
--   files_with_facts  BIGINT  files of the root present in kernel_facts
--   kernel_rows       BIGINT  `kernels` rows of those files
--   fact_rows         BIGINT  kernel_facts rows (kind = 'kernel') of those files
--   kernel_dur_ns     BIGINT  summed kernels.dur_ns of those files
--   fact_dur_ns       BIGINT  summed kernel_facts.dur_ns (kind = 'kernel') of those files
--   files_mismatched  BIGINT  files whose count or summed duration differ
--   files_without_facts BIGINT loaded files with kernels but no kernel_facts rows
WITH facts AS (
    SELECT file_id, count(*) AS n, coalesce(sum(dur_ns), 0) AS dur
    FROM kernel_facts
    WHERE root = ? AND kind = 'kernel'
    GROUP BY file_id
),
files AS (
    SELECT file_id FROM trace_files
    WHERE root = ? AND status IN ('ok', 'stale') AND kind <> 'layerwise'
),
raw AS (
    SELECT k.file_id, count(*) AS n, coalesce(sum(k.dur_ns), 0) AS dur
    FROM kernels k JOIN files USING (file_id)
    GROUP BY k.file_id
),
joined AS (
    SELECT coalesce(r.file_id, f.file_id) AS file_id,
           coalesce(r.n, 0) AS raw_n, coalesce(r.dur, 0) AS raw_dur,
           f.n AS fact_n, f.dur AS fact_dur
    FROM raw r FULL OUTER JOIN facts f USING (file_id)
)
SELECT
    count(*) FILTER (WHERE fact_n IS NOT NULL)                                        AS files_with_facts,
    coalesce(sum(raw_n) FILTER (WHERE fact_n IS NOT NULL), 0)                          AS kernel_rows,
    coalesce(sum(fact_n), 0)                                                           AS fact_rows,
    coalesce(sum(raw_dur) FILTER (WHERE fact_n IS NOT NULL), 0)                        AS kernel_dur_ns,
    coalesce(sum(fact_dur), 0)                                                         AS fact_dur_ns,
    count(*) FILTER (WHERE fact_n IS NOT NULL AND (fact_n <> raw_n OR fact_dur <> raw_dur)) AS files_mismatched,
    count(*) FILTER (WHERE fact_n IS NULL AND raw_n > 0)                               AS files_without_facts
FROM joined;
