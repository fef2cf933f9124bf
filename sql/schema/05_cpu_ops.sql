-- cpu_ops: PyTorch operators (cat = 'cpu_op').
-- Columns: COMMENT ON below.
CREATE TABLE IF NOT EXISTS cpu_ops (
    file_id     BIGINT,
    ev          BIGINT,
    name        TEXT,
    ts_ns       BIGINT,
    dur_ns      BIGINT,
    pid         TEXT,
    tid         TEXT,
    external_id BIGINT,
    seq         BIGINT,
    input_dims  TEXT,
    args        JSON
);
COMMENT ON COLUMN cpu_ops.file_id IS 'trace_files.file_id';
COMMENT ON COLUMN cpu_ops.ev IS 'ordinal that grows with the position in traceEvents (batch << 24 | index); unique per file';
COMMENT ON COLUMN cpu_ops.name IS 'kernel name as written by the profiler';
COMMENT ON COLUMN cpu_ops.ts_ns IS 'start, integer nanoseconds (baseTimeNanoseconds added when present)';
COMMENT ON COLUMN cpu_ops.dur_ns IS 'duration, integer nanoseconds';
COMMENT ON COLUMN cpu_ops.pid IS 'trace pid (device index, or a label in merged traces)';
COMMENT ON COLUMN cpu_ops.tid IS 'trace tid (stream id)';
COMMENT ON COLUMN cpu_ops.external_id IS 'args."External id" (joins kernels/launches external_id)';
COMMENT ON COLUMN cpu_ops.seq IS 'args."Sequence number"';
COMMENT ON COLUMN cpu_ops.input_dims IS 'args."Input Dims" as JSON text (record_shapes)';
COMMENT ON COLUMN cpu_ops.args IS 'the event''s full args object (JSON)';
