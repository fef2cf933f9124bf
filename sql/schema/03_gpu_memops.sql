-- gpu_memops: GPU memcpy / memset activity (cat = 'gpu_memcpy' | 'gpu_memset').
-- Columns: COMMENT ON below.
CREATE TABLE IF NOT EXISTS gpu_memops (
    file_id     BIGINT,
    ev          BIGINT,
    kind        TEXT,
    name        TEXT,
    ts_ns       BIGINT,
    dur_ns      BIGINT,
    pid         TEXT,
    tid         TEXT,
    stream      BIGINT,
    device      BIGINT,
    correlation BIGINT,
    external_id BIGINT,
    bytes       BIGINT,
    args        JSON
);
COMMENT ON COLUMN gpu_memops.file_id IS 'trace_files.file_id';
COMMENT ON COLUMN gpu_memops.ev IS 'ordinal that grows with the position in traceEvents (batch << 24 | index); unique per file';
COMMENT ON COLUMN gpu_memops.kind IS 'memcpy | memset';
COMMENT ON COLUMN gpu_memops.name IS 'activity name as written by the profiler (Memcpy HtoD, Memset, ...)';
COMMENT ON COLUMN gpu_memops.ts_ns IS 'start, integer nanoseconds (baseTimeNanoseconds added when present)';
COMMENT ON COLUMN gpu_memops.dur_ns IS 'duration, integer nanoseconds';
COMMENT ON COLUMN gpu_memops.pid IS 'trace pid (device index, or a label in merged traces)';
COMMENT ON COLUMN gpu_memops.tid IS 'trace tid (stream id)';
COMMENT ON COLUMN gpu_memops.stream IS 'args.stream (tid when absent)';
COMMENT ON COLUMN gpu_memops.device IS 'args.device (pid when absent and numeric)';
COMMENT ON COLUMN gpu_memops.correlation IS 'args.correlation: the launching runtime/driver call (shared by a graph replay)';
COMMENT ON COLUMN gpu_memops.external_id IS 'args."External id": the enclosing CPU op (NULL when absent)';
COMMENT ON COLUMN gpu_memops.bytes IS 'args.bytes';
COMMENT ON COLUMN gpu_memops.args IS 'the full args object';
