-- report_fusions: catalogued fusion patterns found in a stage, fused or split (docs/fusions.md), largest first
-- Key: (root, view, stage, pos) — report_stages' stage, pos = the row's rank in the table.
CREATE TABLE IF NOT EXISTS report_fusions (
    root  TEXT,
    view  TEXT,
    stage TEXT,
    pos   INTEGER,
    pattern           TEXT,
    title             TEXT,
    status            TEXT,
    origin            TEXT,
    pr                TEXT,
    time_ns           BIGINT,
    share             DOUBLE,
    evidence          TEXT[],
    sites             TEXT[],
    candidate_path    TEXT,
    conclusion        TEXT,
    occurrences       BIGINT,
    fused_occurrences BIGINT,
    split_occurrences BIGINT,
    expected_gain_ns   BIGINT,
    expected_gain_note TEXT
);
COMMENT ON COLUMN report_fusions.root IS 'trace_roots.root';
COMMENT ON COLUMN report_fusions.view IS 'report_views.view';
COMMENT ON COLUMN report_fusions.stage IS 'report_stages.stage';
COMMENT ON COLUMN report_fusions.pos IS 'position of the row in the stage''s table (0 = first)';
COMMENT ON COLUMN report_fusions.pattern IS 'catalog id (pipeline/catalog/fusions.toml)';
COMMENT ON COLUMN report_fusions.title IS 'what the pattern is';
COMMENT ON COLUMN report_fusions.status IS 'fused | split | both';
COMMENT ON COLUMN report_fusions.origin IS 'the framework that ships the fused path';
COMMENT ON COLUMN report_fusions.pr IS 'upstream pull request or commit, when catalogued';
COMMENT ON COLUMN report_fusions.time_ns IS 'time of the matched kernels (ns)';
COMMENT ON COLUMN report_fusions.share IS 'of the stage''s kernel time';
COMMENT ON COLUMN report_fusions.evidence IS 'kernel names that matched';
COMMENT ON COLUMN report_fusions.sites IS 'sites of the matched kernels';
COMMENT ON COLUMN report_fusions.candidate_path IS 'upstream source path of the fused implementation';
COMMENT ON COLUMN report_fusions.conclusion IS 'what the match means';
COMMENT ON COLUMN report_fusions.occurrences IS 'matches';
COMMENT ON COLUMN report_fusions.fused_occurrences IS 'matches of the fused kernel';
COMMENT ON COLUMN report_fusions.split_occurrences IS 'matches of the split chain';
COMMENT ON COLUMN report_fusions.expected_gain_ns IS 'the recoverable time (speed of light) of the kernels the row addresses (docs/roofline.md); NULL when none has a roof';
COMMENT ON COLUMN report_fusions.expected_gain_note IS 'why there is no expected gain';
