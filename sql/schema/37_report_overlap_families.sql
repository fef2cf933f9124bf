-- report_overlap_families: the overlap table per kernel family
-- Key: (root, view, stage, pos) — report_stages' stage, pos = the row's rank in the table.
CREATE TABLE IF NOT EXISTS report_overlap_families (
    root  TEXT,
    view  TEXT,
    stage TEXT,
    pos   INTEGER,
    family                TEXT,
    names                 BIGINT,
    time_ns               BIGINT,
    count                 BIGINT,
    exposed_ns            BIGINT,
    hidden_ns             BIGINT,
    same_stream_overlap_ns BIGINT,
    launch_gap_ns         BIGINT,
    share                 DOUBLE,
    hidden_by_compute_ns  BIGINT,
    hidden_by_comm_ns     BIGINT,
    hidden_by_memory_ns   BIGINT,
    hidden_by             JSON
);
COMMENT ON COLUMN report_overlap_families.root IS 'trace_roots.root';
COMMENT ON COLUMN report_overlap_families.view IS 'report_views.view';
COMMENT ON COLUMN report_overlap_families.stage IS 'report_stages.stage';
COMMENT ON COLUMN report_overlap_families.pos IS 'position of the row in the stage''s table (0 = first)';
COMMENT ON COLUMN report_overlap_families.family IS 'kernel family';
COMMENT ON COLUMN report_overlap_families.names IS 'distinct kernel names of the family';
COMMENT ON COLUMN report_overlap_families.time_ns IS 'summed duration (ns)';
COMMENT ON COLUMN report_overlap_families.count IS 'activities';
COMMENT ON COLUMN report_overlap_families.exposed_ns IS 'exposed time (ns)';
COMMENT ON COLUMN report_overlap_families.hidden_ns IS 'hidden time (ns)';
COMMENT ON COLUMN report_overlap_families.same_stream_overlap_ns IS 'same-stream (PDL) overlap (ns)';
COMMENT ON COLUMN report_overlap_families.launch_gap_ns IS 'launch gaps (ns)';
COMMENT ON COLUMN report_overlap_families.share IS '(time_ns - same_stream_overlap_ns) / the stage''s busy time';
COMMENT ON COLUMN report_overlap_families.hidden_by_compute_ns IS 'hidden by compute (ns)';
COMMENT ON COLUMN report_overlap_families.hidden_by_comm_ns IS 'hidden by communication (ns)';
COMMENT ON COLUMN report_overlap_families.hidden_by_memory_ns IS 'hidden by memory traffic (ns)';
COMMENT ON COLUMN report_overlap_families.hidden_by IS 'hidden time per category: {category: ns}';
