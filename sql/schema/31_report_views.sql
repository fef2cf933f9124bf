-- report_views: the views of a root's report. A root with two or more ranks has one view per rank
-- (that rank's files plus the files without a rank, on one timeline) and the view 'all' (every rank
-- pooled; timeline figures per rank, then summed); any other root has only 'all'.
CREATE TABLE IF NOT EXISTS report_views (
    root            TEXT,
    view            TEXT,
    rank            INTEGER,
    mode            TEXT,
    overlap_source  TEXT,
    outside_kernels BIGINT,
    outside_time_ns BIGINT,
    device          JSON
);
COMMENT ON COLUMN report_views.root IS 'trace_roots.root';
COMMENT ON COLUMN report_views.view IS '''all'' or the rank number as text';
COMMENT ON COLUMN report_views.rank IS 'the rank of a per-rank view; NULL for ''all''';
COMMENT ON COLUMN report_views.mode IS 'single | pair (a mapping trace supplied attribution)';
COMMENT ON COLUMN report_views.overlap_source IS 'which traces the timeline figures come from';
COMMENT ON COLUMN report_views.outside_kernels IS 'GPU activities outside every step window (excluded from the stages)';
COMMENT ON COLUMN report_views.outside_time_ns IS 'their summed duration (ns)';
COMMENT ON COLUMN report_views.device IS 'the GPU the view''s kernels ran on and its peaks (docs/json-schema.md device)';
