-- alignment_match_rate: share of graph-replayed kernels that alignment matched to a mapping kernel.
-- Alignment applies to a root when it has graph-replayed kernels and a source to map them from:
-- a loaded mapping-role file, or eager (non-graph) kernels in the same trace.
-- Parameters: ? = trace_roots.root (used twice)
-- One row:
--   graph_kernels     BIGINT  kernel_facts rows with kind = 'kernel' and is_graph, outside mapping files
--   graph_time_ns     BIGINT  their summed duration
--   matched_kernels   BIGINT  of those, rows with a match_kind (exact or family)
--   matched_time_ns   BIGINT  their summed duration
--   eager_kernels     BIGINT  kernels launched without a graph, outside mapping files
--   mapping_files     BIGINT  loaded files of the root with role = 'mapping'
WITH files AS (
    SELECT file_id, role FROM trace_files
    WHERE root = ? AND status IN ('ok', 'stale') AND kind <> 'layerwise'
),
facts AS (
    SELECT f.* FROM kernel_facts f JOIN files USING (file_id)
    WHERE f.root = ? AND f.kind = 'kernel' AND files.role <> 'mapping'
)
SELECT
    count(*) FILTER (WHERE is_graph)                                          AS graph_kernels,
    coalesce(sum(dur_ns) FILTER (WHERE is_graph), 0)                          AS graph_time_ns,
    count(*) FILTER (WHERE is_graph AND match_kind IS NOT NULL)               AS matched_kernels,
    coalesce(sum(dur_ns) FILTER (WHERE is_graph AND match_kind IS NOT NULL), 0) AS matched_time_ns,
    count(*) FILTER (WHERE NOT is_graph)                                      AS eager_kernels,
    (SELECT count(*) FROM files WHERE role = 'mapping')                       AS mapping_files
FROM facts;
