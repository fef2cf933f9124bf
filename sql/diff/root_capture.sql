-- root_capture: what a root's rows say about when and how it was captured (docs/diff.md "Previous run").
-- Parameters: ? = root (four times)
-- One row:
--   first_ts_ns   BIGINT     earliest GPU activity start on the epoch clock (files with baseTimeNanoseconds
--                            or absolute timestamps; NULL when no file has an epoch clock)
--   loaded_at     TIMESTAMP  trace_roots.loaded_at (ingest time: the fallback)
--   path          TEXT       trace_roots.path (where capture.json may sit)
--   server_args   JSON       trace_roots.server_args
--   roles         TEXT[]     distinct roles of the root's files with facts, sorted
SELECT
    (SELECT min(k.ts_ns)
     FROM kernel_facts k JOIN trace_files f ON f.file_id = k.file_id
     WHERE k.root = ? AND (f.base_time_ns IS NOT NULL OR f.ts_variant LIKE 'absolute%')) AS first_ts_ns,
    r.loaded_at,
    r.path,
    r.server_args,
    (SELECT list(DISTINCT f.role ORDER BY f.role)
     FROM trace_files f
     WHERE f.root = ? AND f.file_id IN (SELECT DISTINCT file_id FROM kernel_facts WHERE root = ?)) AS roles
FROM trace_roots r
WHERE r.root = ?;
