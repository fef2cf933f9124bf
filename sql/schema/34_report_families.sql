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
    launches BIGINT
);
COMMENT ON COLUMN report_families.root IS 'trace_roots.root';
COMMENT ON COLUMN report_families.view IS 'report_views.view';
COMMENT ON COLUMN report_families.stage IS 'report_stages.stage';
COMMENT ON COLUMN report_families.pos IS 'position of the row in the stage''s table (0 = first)';
COMMENT ON COLUMN report_families.family IS 'kernel family';
COMMENT ON COLUMN report_families.time_ns IS 'summed duration (ns)';
COMMENT ON COLUMN report_families.share IS 'of the stage''s kernel time';
COMMENT ON COLUMN report_families.launches IS 'activities of the family';
