-- layerwise_nodes: vLLM layer-wise profiler JSON (examples/offline_profile.py --json), flattened.
--   file_id      BIGINT
--   step         TEXT    prefill | decode_1 | decode_2 | …
--   tree         TEXT    model (model_stats: call tree) | summary (summary_stats: merged by name path)
--   node         BIGINT  pre-order index within (step, tree)
--   parent       BIGINT  parent node index (NULL for roots)
--   depth        INTEGER 0 for roots
--   name         TEXT    module repr or kernel name
--   cuda_time_ns BIGINT  cuda_time_us × 1000
--   cpu_time_ns  BIGINT  cpu_time_us × 1000 (model tree only)
--   pct_cuda     DOUBLE  pct_cuda_time
--   invocations  BIGINT  summary tree only
--   trace        TEXT    the torch-op chain for kernel leaves (model tree only)
CREATE TABLE IF NOT EXISTS layerwise_nodes (
    file_id      BIGINT,
    step         TEXT,
    tree         TEXT,
    node         BIGINT,
    parent       BIGINT,
    depth        INTEGER,
    name         TEXT,
    cuda_time_ns BIGINT,
    cpu_time_ns  BIGINT,
    pct_cuda     DOUBLE,
    invocations  BIGINT,
    trace        TEXT
);
