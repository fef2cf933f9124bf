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
    same_stream_overlap_ns BIGINT
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
