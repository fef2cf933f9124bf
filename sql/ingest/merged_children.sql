-- merged_children: one trace_files row per virtual file split from a merged trace, derived from the
-- merged file's row: kind 'merged_rank', rank from the label, size_bytes and events NULL (not a
-- file of its own), kernels counted from the moved rows, metadata + "_merged" (label and parallel
-- ranks). Runs after split_merged.sql, inside the same transaction.
-- Input: the Arrow table registered as _merged_split (columns in split_merged.sql's header).
INSERT INTO trace_files
SELECT s.child_id AS file_id, p.root, s.path, p.framework, p.model, p.run, p.role, p.stage, s.rank,
       'merged_rank' AS kind, NULL AS size_bytes, p.fingerprint, p.status, p.error,
       'rank ' || s.rank || ' of ' || p.path || ', pid label [' || s.label || ']' AS note,
       NULL AS events,
       (SELECT count(*) FROM kernels k WHERE k.file_id = s.child_id) AS kernels,
       p.base_time_ns, p.ts_variant,
       json_merge_patch(coalesce(p.metadata, '{}'::JSON), json_object('_merged', s.info::JSON)) AS metadata,
       p.ingested_at
FROM _merged_split s
JOIN trace_files p ON p.file_id = s.file_id;
