-- alignment_match_rate: share of the kernels that needed mapping (graph replays, unattributed)
-- that alignment mapped (attribution = 'mapped'), as pipeline.align.match_rate counts them.
-- Alignment applies to a root when it has graph-replayed kernels and a source to map them from:
-- a loaded mapping-role file, or an eager step (a step of a timing file with no graph kernel).
-- Parameters: ? = trace_roots.root (used twice)
-- One row:
--   need_kernels      BIGINT  timing-file kernels that needed mapping (is_graph, or attribution 'none' or 'mapped')
--   need_time_ns      BIGINT  their summed duration
--   mapped_kernels    BIGINT  of those, rows with attribution = 'mapped'
--   mapped_time_ns    BIGINT  their summed duration
--   graph_kernels     BIGINT  timing-file kernels launched by a graph replay
--   eager_steps       BIGINT  (file, step) groups of timing files without any graph kernel
--   mapping_files     BIGINT  loaded files of the root with role = 'mapping'
WITH files AS (
    SELECT file_id, role FROM trace_files
    WHERE root = ? AND status IN ('ok', 'stale') AND kind <> 'layerwise'
),
facts AS (
    SELECT f.* FROM kernel_facts f JOIN files USING (file_id)
    WHERE f.root = ? AND f.kind = 'kernel' AND files.role <> 'mapping'
),
need AS (
    SELECT * FROM facts WHERE is_graph OR attribution IN ('none', 'mapped')
),
steps AS (
    SELECT file_id, step, bool_or(is_graph) AS has_graph
    FROM facts WHERE step IS NOT NULL GROUP BY file_id, step
)
SELECT
    (SELECT count(*) FROM need)                                                   AS need_kernels,
    (SELECT coalesce(sum(dur_ns), 0) FROM need)                                   AS need_time_ns,
    (SELECT count(*) FROM need WHERE attribution = 'mapped')                      AS mapped_kernels,
    (SELECT coalesce(sum(dur_ns), 0) FROM need WHERE attribution = 'mapped')      AS mapped_time_ns,
    (SELECT count(*) FROM facts WHERE is_graph)                                   AS graph_kernels,
    (SELECT count(*) FROM steps WHERE NOT has_graph)                              AS eager_steps,
    (SELECT count(*) FROM files WHERE role = 'mapping')                           AS mapping_files;
