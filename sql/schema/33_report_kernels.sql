-- report_kernels: every kernel row of a stage (no cutoff: triage and bundles apply it on read), by time
-- Key: (root, view, stage, pos) — report_stages' stage, pos = the row's rank in the table.
CREATE TABLE IF NOT EXISTS report_kernels (
    root  TEXT,
    view  TEXT,
    stage TEXT,
    pos   INTEGER,
    name             TEXT,
    family           TEXT,
    time_ns          BIGINT,
    share            DOUBLE,
    launches         BIGINT,
    mean_ns          BIGINT,
    p50_ns           BIGINT,
    max_ns           BIGINT,
    site             TEXT,
    sites            JSON,
    cpu_op           TEXT,
    cumulative_share DOUBLE,
    rank_time_ns     JSON,
    same_stream_overlap_ns BIGINT,
    modelled_ns      BIGINT,
    flops            BIGINT,
    bytes            BIGINT,
    dtype            TEXT,
    achieved_tflops  DOUBLE,
    achieved_tbps    DOUBLE,
    peak_pct         DOUBLE,
    bound            TEXT,
    roofline_ns      BIGINT,
    recoverable_ns   BIGINT,
    note             TEXT
);
COMMENT ON COLUMN report_kernels.root IS 'trace_roots.root';
COMMENT ON COLUMN report_kernels.view IS 'report_views.view';
COMMENT ON COLUMN report_kernels.stage IS 'report_stages.stage';
COMMENT ON COLUMN report_kernels.pos IS 'position of the row in the stage''s table (0 = first)';
COMMENT ON COLUMN report_kernels.name IS 'display name (parameters dropped)';
COMMENT ON COLUMN report_kernels.family IS 'kernel family';
COMMENT ON COLUMN report_kernels.time_ns IS 'summed duration in the stage (ns)';
COMMENT ON COLUMN report_kernels.share IS '(time_ns - same_stream_overlap_ns) / (the stage''s kernel time - its same-stream overlap)';
COMMENT ON COLUMN report_kernels.launches IS 'number of activities';
COMMENT ON COLUMN report_kernels.mean_ns IS 'time_ns / launches, floored';
COMMENT ON COLUMN report_kernels.p50_ns IS 'median duration';
COMMENT ON COLUMN report_kernels.max_ns IS 'longest duration';
COMMENT ON COLUMN report_kernels.site IS 'the site holding most of the time (or a ''(graph replay, unmapped)'' / ''(unattributed)'' label)';
COMMENT ON COLUMN report_kernels.sites IS 'top sites: [{site, share}]';
COMMENT ON COLUMN report_kernels.cpu_op IS 'the CPU op holding most of the time';
COMMENT ON COLUMN report_kernels.cumulative_share IS 'share of this row and every row above it';
COMMENT ON COLUMN report_kernels.same_stream_overlap_ns IS 'part of time_ns that lay under an earlier kernel of the same stream (PDL early start; ns)';
COMMENT ON COLUMN report_kernels.rank_time_ns IS 'optional: view all of a multi-rank root: {rank: time_ns on that rank}';
COMMENT ON COLUMN report_kernels.modelled_ns IS 'time of the row''s kernels that have a cost model (docs/roofline.md)';
COMMENT ON COLUMN report_kernels.flops IS 'FLOPs of the modelled kernels (NULL: none modelled)';
COMMENT ON COLUMN report_kernels.bytes IS 'HBM bytes of the modelled kernels';
COMMENT ON COLUMN report_kernels.dtype IS 'the dtype holding most of the modelled time';
COMMENT ON COLUMN report_kernels.achieved_tflops IS 'FLOPs / modelled time, TFLOP/s';
COMMENT ON COLUMN report_kernels.achieved_tbps IS 'bytes / modelled time, TB/s';
COMMENT ON COLUMN report_kernels.peak_pct IS 'roofline time / time x 100: % of the binding roof at the op''s dtype';
COMMENT ON COLUMN report_kernels.bound IS 'compute | memory (arithmetic intensity vs the ridge point)';
COMMENT ON COLUMN report_kernels.roofline_ns IS 'time at the roof (ns)';
COMMENT ON COLUMN report_kernels.recoverable_ns IS 'time - roofline time (ns): what reaching the roof would recover';
COMMENT ON COLUMN report_kernels.note IS 'why no model or no roof, or a caveat (TF32 vs FP32, ...)';
