-- trace_meta: 'M' metadata events (process / thread names and labels).
-- Columns: COMMENT ON below.
CREATE TABLE IF NOT EXISTS trace_meta (
    file_id BIGINT,
    pid     TEXT,
    tid     TEXT,
    key     TEXT,
    value   TEXT
);
COMMENT ON COLUMN trace_meta.file_id IS 'trace_files.file_id';
COMMENT ON COLUMN trace_meta.pid IS 'trace pid';
COMMENT ON COLUMN trace_meta.tid IS 'trace tid';
COMMENT ON COLUMN trace_meta.key IS 'process_name | process_labels | thread_name | process_sort_index | thread_sort_index';
COMMENT ON COLUMN trace_meta.value IS 'args.name / args.labels / args.sort_index as text';
