-- python_frames: Python call frames recorded with with_stack=True (cat = 'python_function').
-- Columns: COMMENT ON below.
CREATE TABLE IF NOT EXISTS python_frames (
    file_id   BIGINT,
    ev        BIGINT,
    name      TEXT,
    ts_ns     BIGINT,
    dur_ns    BIGINT,
    pid       TEXT,
    tid       TEXT,
    python_id BIGINT,
    parent_id BIGINT,
    module_id BIGINT
);
COMMENT ON COLUMN python_frames.file_id IS 'trace_files.file_id';
COMMENT ON COLUMN python_frames.ev IS 'ordinal that grows with the position in traceEvents (batch << 24 | index); unique per file';
COMMENT ON COLUMN python_frames.name IS '''path/file.py(line): func'', ''<built-in method …>'' or ''nn.Module: Class_N''';
COMMENT ON COLUMN python_frames.ts_ns IS 'start, integer nanoseconds (baseTimeNanoseconds added when present)';
COMMENT ON COLUMN python_frames.dur_ns IS 'duration, integer nanoseconds';
COMMENT ON COLUMN python_frames.pid IS 'trace pid (device index, or a label in merged traces)';
COMMENT ON COLUMN python_frames.tid IS 'trace tid (stream id)';
COMMENT ON COLUMN python_frames.python_id IS 'args."Python id"';
COMMENT ON COLUMN python_frames.parent_id IS 'args."Python parent id" (NULL for roots; may point outside a sliced file)';
COMMENT ON COLUMN python_frames.module_id IS 'args."Python module id" (nn.Module frames)';
