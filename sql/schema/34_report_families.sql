-- report_families: time per kernel family in a stage, largest first
-- Key: (root, view, stage, pos) — report_stages' stage, pos = the row's rank in the table.
CREATE TABLE IF NOT EXISTS report_families (
    root  TEXT,
    view  TEXT,
    stage TEXT,
    pos   INTEGER,
    family   TEXT,
    time_ns  BIGINT,
    share    DOUBLE,
    launches BIGINT,
    same_stream_overlap_ns BIGINT
);
COMMENT ON COLUMN report_families.root IS 'trace_roots.root';
COMMENT ON COLUMN report_families.view IS 'report_views.view';
COMMENT ON COLUMN report_families.stage IS 'report_stages.stage';
COMMENT ON COLUMN report_families.pos IS 'position of the row in the stage''s table (0 = first)';
COMMENT ON COLUMN report_families.family IS 'kernel family';
COMMENT ON COLUMN report_families.time_ns IS 'summed duration (ns)';
COMMENT ON COLUMN report_families.share IS '(time_ns - same_stream_overlap_ns) / (the stage''s kernel time - its same-stream overlap)';
COMMENT ON COLUMN report_families.launches IS 'activities of the family';
COMMENT ON COLUMN report_families.same_stream_overlap_ns IS 'part of time_ns under an earlier kernel of the same stream (PDL; ns)';
