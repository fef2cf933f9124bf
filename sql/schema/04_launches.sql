-- launches: CPU-side runtime / driver API calls (cat = 'cuda_runtime' | 'cuda_driver'; ROCm uses the
-- same categories with hip* names).
--   file_id, ev, ts_ns, dur_ns, pid, tid: as in kernels
--   cat          TEXT    cuda_runtime | cuda_driver
--   name         TEXT    API name: cudaLaunchKernel, cudaGraphLaunch, hipLaunchKernel, cuLaunchKernelEx, …
--   correlation  BIGINT  args.correlation (joins kernels.correlation)
--   external_id  BIGINT  args."External id" of the enclosing CPU op
--   cbid         BIGINT  args.cbid (CUDA) or args.cid (ROCm)
--   is_graph     BOOLEAN true for cudaGraphLaunch / hipGraphLaunch
--   args         JSON
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
