-- report_near_misses: partial chains of catalogued patterns (docs/fusions.md)
-- Key: (root, view, stage, pos) — report_stages' stage, pos = the row's rank in the table.
CREATE TABLE IF NOT EXISTS report_near_misses (
    root  TEXT,
    view  TEXT,
    stage TEXT,
    pos   INTEGER,
    pattern TEXT,
    title   TEXT,
    level   TEXT,
    matched TEXT[],
    missing TEXT[],
    ranks   INTEGER[]
);
COMMENT ON COLUMN report_near_misses.root IS 'trace_roots.root';
COMMENT ON COLUMN report_near_misses.view IS 'report_views.view';
COMMENT ON COLUMN report_near_misses.stage IS 'report_stages.stage';
COMMENT ON COLUMN report_near_misses.pos IS 'position of the row in the stage''s table (0 = first)';
COMMENT ON COLUMN report_near_misses.pattern IS 'catalog id';
COMMENT ON COLUMN report_near_misses.title IS 'what the pattern is';
COMMENT ON COLUMN report_near_misses.level IS 'high | medium | low (docs/fusions.md)';
COMMENT ON COLUMN report_near_misses.matched IS 'chain elements present';
COMMENT ON COLUMN report_near_misses.missing IS 'chain elements absent';
COMMENT ON COLUMN report_near_misses.ranks IS 'optional: view all of a multi-rank root: the ranks that showed it';
