-- cross_root_candidates: the other trace roots that may lend attribution to a root's graph replays
-- (pipeline/align/cross_root.py): same framework and model (model compared case-insensitively),
-- loaded, not the root itself; most recently captured first.
-- Parameters: ? = trace_roots.root (the root to attribute; used twice)
-- Rows:
--   root         TEXT    the candidate root
--   captured_ns  BIGINT  its capture time: the earliest kernel start (absolute ns) of its loaded files
--   files        BIGINT  its loaded files
WITH me AS (
    SELECT framework, lower(model) AS model FROM trace_roots WHERE root = ?
),
cands AS (
    SELECT r.root FROM trace_roots r, me
    WHERE r.root <> ? AND r.status = 'ok' AND r.framework = me.framework AND lower(r.model) = me.model
      AND me.framework IS NOT NULL AND me.framework <> 'unknown'
),
files AS (
    SELECT f.root, f.file_id FROM trace_files f JOIN cands USING (root)
    WHERE f.status IN ('ok', 'stale') AND f.kind <> 'layerwise'
)
SELECT files.root, min(k.ts_ns) AS captured_ns, count(DISTINCT files.file_id) AS files
FROM files LEFT JOIN kernels k USING (file_id)
GROUP BY files.root
ORDER BY captured_ns DESC NULLS LAST, files.root;
