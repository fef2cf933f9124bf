-- gpu_memops: GPU memcpy / memset activity (cat = 'gpu_memcpy' | 'gpu_memset').
--   file_id, ev, name, ts_ns, dur_ns, pid, tid, stream, device, correlation, external_id, args: as in kernels
--   kind         TEXT    memcpy | memset
--   bytes        BIGINT  args.bytes
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
