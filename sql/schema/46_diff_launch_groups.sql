-- diff_launch_groups: CPU ops (at one site) whose launched kernel chains differ between the sides
-- of a stage (report_launch_groups of each side).
-- Key: (base, variant, stage, pos) — diff_stages' stage, pos = the row's place in the table.
CREATE TABLE IF NOT EXISTS diff_launch_groups (
    base    TEXT,
    variant TEXT,
    stage   TEXT,
    pos     INTEGER,
    cpu_op              TEXT,
    site                TEXT,
    base_kernels        TEXT[],
    variant_kernels     TEXT[],
    base_occurrences    BIGINT,
    variant_occurrences BIGINT,
    change              TEXT
);
COMMENT ON COLUMN diff_launch_groups.base IS 'diff_runs.base';
COMMENT ON COLUMN diff_launch_groups.variant IS 'diff_runs.variant';
COMMENT ON COLUMN diff_launch_groups.stage IS 'diff_stages.stage';
COMMENT ON COLUMN diff_launch_groups.pos IS 'position of the row in the stage''s table';
COMMENT ON COLUMN diff_launch_groups.cpu_op IS 'the launching op';
COMMENT ON COLUMN diff_launch_groups.site IS 'its site';
COMMENT ON COLUMN diff_launch_groups.base_kernels IS 'the base chain no longer launched (largest by time; NULL: none)';
COMMENT ON COLUMN diff_launch_groups.variant_kernels IS 'the variant chain not launched before (largest by time; NULL: none)';
COMMENT ON COLUMN diff_launch_groups.base_occurrences IS 'op instances of that base chain (0 when none)';
COMMENT ON COLUMN diff_launch_groups.variant_occurrences IS 'op instances of that variant chain (0 when none)';
COMMENT ON COLUMN diff_launch_groups.change IS 'new (the op launches a group only now) | gone | changed (another chain)';
