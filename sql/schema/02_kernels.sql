-- kernels: one row per GPU kernel event (cat = 'kernel').
-- Columns: COMMENT ON below.
CREATE TABLE IF NOT EXISTS kernels (
    file_id     BIGINT,
    ev          BIGINT,
    name        TEXT,
    ts_ns       BIGINT,
    dur_ns      BIGINT,
    pid         TEXT,
    tid         TEXT,
    stream      BIGINT,
    device      BIGINT,
    correlation BIGINT,
    external_id BIGINT,
    grid        TEXT,
    block       TEXT,
    args        JSON
);
COMMENT ON COLUMN kernels.file_id IS 'trace_files.file_id';
COMMENT ON COLUMN kernels.ev IS 'ordinal that grows with the position in traceEvents (batch << 24 | index); unique per file';
COMMENT ON COLUMN kernels.name IS 'kernel name as written by the profiler';
COMMENT ON COLUMN kernels.ts_ns IS 'start, integer nanoseconds (baseTimeNanoseconds added when present)';
COMMENT ON COLUMN kernels.dur_ns IS 'duration, integer nanoseconds';
COMMENT ON COLUMN kernels.pid IS 'trace pid (device index, or a label in merged traces)';
COMMENT ON COLUMN kernels.tid IS 'trace tid (stream id)';
COMMENT ON COLUMN kernels.stream IS 'args.stream (tid when absent)';
COMMENT ON COLUMN kernels.device IS 'args.device (pid when absent and numeric)';
COMMENT ON COLUMN kernels.correlation IS 'args.correlation: the launching runtime/driver call (shared by a graph replay)';
COMMENT ON COLUMN kernels.external_id IS 'args."External id": the enclosing CPU op (NULL when absent)';
COMMENT ON COLUMN kernels.grid IS 'args.grid as compact JSON text, e.g. ''[1,1,1]''';
COMMENT ON COLUMN kernels.block IS 'args.block as compact JSON text';
COMMENT ON COLUMN kernels.args IS 'the full args object';
