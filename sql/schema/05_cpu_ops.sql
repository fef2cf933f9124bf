-- cpu_ops: PyTorch operators (cat = 'cpu_op').
--   file_id, ev, name, ts_ns, dur_ns, pid, tid: as in kernels
--   external_id  BIGINT  args."External id" (joins kernels/launches external_id)
--   seq          BIGINT  args."Sequence number"
--   input_dims   TEXT    args."Input Dims" as JSON text (record_shapes)
--   args         JSON
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
