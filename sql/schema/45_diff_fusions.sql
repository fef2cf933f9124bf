-- diff_fusions: catalogued fusion patterns whose status differs between the sides of a stage
-- (report_fusions of each side; docs/fusions.md).
-- Key: (base, variant, stage, pos) — diff_stages' stage, pos = the row's place in the table.
CREATE TABLE IF NOT EXISTS diff_fusions (
    base    TEXT,
    variant TEXT,
    stage   TEXT,
    pos     INTEGER,
    pattern         TEXT,
    title           TEXT,
    base_status     TEXT,
    variant_status  TEXT,
    base_time_ns    BIGINT,
    variant_time_ns BIGINT,
    change          TEXT
);
COMMENT ON COLUMN diff_fusions.base IS 'diff_runs.base';
COMMENT ON COLUMN diff_fusions.variant IS 'diff_runs.variant';
COMMENT ON COLUMN diff_fusions.stage IS 'diff_stages.stage';
COMMENT ON COLUMN diff_fusions.pos IS 'position of the row in the stage''s table';
COMMENT ON COLUMN diff_fusions.pattern IS 'catalog id (pipeline/catalog/fusions.toml)';
COMMENT ON COLUMN diff_fusions.title IS 'what the pattern is';
COMMENT ON COLUMN diff_fusions.base_status IS 'fused | split | both on the base side (NULL: not found there)';
COMMENT ON COLUMN diff_fusions.variant_status IS 'the same on the variant side (NULL: not found there)';
COMMENT ON COLUMN diff_fusions.base_time_ns IS 'time of the matched kernels on the base side, in the whole stage (0 when absent)';
COMMENT ON COLUMN diff_fusions.variant_time_ns IS 'the same on the variant side';
COMMENT ON COLUMN diff_fusions.change IS 'fused (now fused) | split (now split) | changed (another mix) | new | gone';
