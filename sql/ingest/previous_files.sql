-- previous_files: the files of a root whose rows a previous load stored (loaded, or kept from an
-- earlier load after a failed re-parse), before this load replaces the root's rows
-- (pipeline/ingest/load.py load_root).
-- Parameters: ? = root
-- Rows: file_id, path (a per-rank virtual file of a merged trace: 'merged-….trace.json.gz#TP01')
SELECT file_id, path
FROM trace_files
WHERE root = ? AND status IN ('ok', 'stale');
