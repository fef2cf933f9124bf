-- mark_stale: files whose previous rows a load keeps after they failed to re-load: status 'stale'
-- and the reason (pipeline/ingest/load.py _update_stale).
-- Input: the Arrow table registered as _kept (file_id BIGINT, error TEXT), one row per kept file.
UPDATE trace_files
SET status = 'stale', error = k.error
FROM _kept k
WHERE trace_files.file_id = k.file_id;
