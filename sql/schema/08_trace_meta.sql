-- trace_meta: 'M' metadata events (process / thread names and labels).
--   file_id      BIGINT
--   pid, tid     TEXT
--   key          TEXT    process_name | process_labels | thread_name | process_sort_index | thread_sort_index
--   value        TEXT    args.name / args.labels / args.sort_index as text
CREATE TABLE IF NOT EXISTS trace_meta (
    file_id BIGINT,
    pid     TEXT,
    tid     TEXT,
    key     TEXT,
    value   TEXT
);
