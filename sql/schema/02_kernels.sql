-- kernels: one row per GPU kernel event (cat = 'kernel').
--   file_id      BIGINT  trace_files.file_id
--   ev           BIGINT  ordinal that grows with the position in traceEvents (batch << 24 | index); unique per file
--   name         TEXT    kernel name as written by the profiler
--   ts_ns        BIGINT  start, integer nanoseconds (baseTimeNanoseconds added when present)
--   dur_ns       BIGINT  duration, integer nanoseconds
--   pid          TEXT    trace pid (device index, or a label in merged traces)
--   tid          TEXT    trace tid (stream id)
--   stream       BIGINT  args.stream (tid when absent)
--   device       BIGINT  args.device (pid when absent and numeric)
--   correlation  BIGINT  args.correlation: the launching runtime/driver call (shared by a graph replay)
--   external_id  BIGINT  args."External id": the enclosing CPU op (NULL when absent)
--   grid         TEXT    args.grid as compact JSON text, e.g. '[1,1,1]'
--   block        TEXT    args.block as compact JSON text
--   args         JSON    the full args object
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
