-- layerwise_nodes: vLLM layer-wise profiler JSON (examples/offline_profile.py --json), flattened.
-- Columns: COMMENT ON below.
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
COMMENT ON COLUMN layerwise_nodes.file_id IS 'trace_files.file_id';
COMMENT ON COLUMN layerwise_nodes.step IS 'prefill | decode_1 | decode_2 | …';
COMMENT ON COLUMN layerwise_nodes.tree IS 'model (model_stats: call tree) | summary (summary_stats: merged by name path)';
COMMENT ON COLUMN layerwise_nodes.node IS 'pre-order index within (step, tree)';
COMMENT ON COLUMN layerwise_nodes.parent IS 'parent node index (NULL for roots)';
COMMENT ON COLUMN layerwise_nodes.depth IS '0 for roots';
COMMENT ON COLUMN layerwise_nodes.name IS 'module repr or kernel name';
COMMENT ON COLUMN layerwise_nodes.cuda_time_ns IS 'cuda_time_us × 1000';
COMMENT ON COLUMN layerwise_nodes.cpu_time_ns IS 'cpu_time_us × 1000 (model tree only)';
COMMENT ON COLUMN layerwise_nodes.pct_cuda IS 'pct_cuda_time';
COMMENT ON COLUMN layerwise_nodes.invocations IS 'summary tree only';
COMMENT ON COLUMN layerwise_nodes.trace IS 'the torch-op chain for kernel leaves (model tree only)';
