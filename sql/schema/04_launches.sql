-- launches: CPU-side runtime / driver API calls (cat = 'cuda_runtime' | 'cuda_driver'; ROCm uses the
-- same categories with hip* names).
-- Columns: COMMENT ON below.
CREATE TABLE IF NOT EXISTS launches (
    file_id     BIGINT,
    ev          BIGINT,
    cat         TEXT,
    name        TEXT,
    ts_ns       BIGINT,
    dur_ns      BIGINT,
    pid         TEXT,
    tid         TEXT,
    correlation BIGINT,
    external_id BIGINT,
    cbid        BIGINT,
    is_graph    BOOLEAN,
    args        JSON
);
COMMENT ON COLUMN launches.file_id IS 'trace_files.file_id';
COMMENT ON COLUMN launches.ev IS 'ordinal that grows with the position in traceEvents (batch << 24 | index); unique per file';
COMMENT ON COLUMN launches.cat IS 'cuda_runtime | cuda_driver';
COMMENT ON COLUMN launches.name IS 'API name: cudaLaunchKernel, cudaGraphLaunch, hipLaunchKernel, cuLaunchKernelEx, …';
COMMENT ON COLUMN launches.ts_ns IS 'start, integer nanoseconds (baseTimeNanoseconds added when present)';
COMMENT ON COLUMN launches.dur_ns IS 'duration, integer nanoseconds';
COMMENT ON COLUMN launches.pid IS 'trace pid (device index, or a label in merged traces)';
COMMENT ON COLUMN launches.tid IS 'trace tid (stream id)';
COMMENT ON COLUMN launches.correlation IS 'args.correlation (joins kernels.correlation)';
COMMENT ON COLUMN launches.external_id IS 'args."External id" of the enclosing CPU op';
COMMENT ON COLUMN launches.cbid IS 'args.cbid (CUDA) or args.cid (ROCm)';
COMMENT ON COLUMN launches.is_graph IS 'true for cudaGraphLaunch / hipGraphLaunch';
COMMENT ON COLUMN launches.args IS 'the event''s full args object (JSON)';
