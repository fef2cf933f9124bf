-- diff_families: time per kernel family on both sides of a stage, largest |delta_ns| first.
-- Key: (base, variant, stage, pos) — diff_stages' stage, pos = the row's place in the table.
CREATE TABLE IF NOT EXISTS diff_families (
    base    TEXT,
    variant TEXT,
    stage   TEXT,
    pos     INTEGER,
    family           TEXT,
    base_ns          BIGINT,
    variant_ns       BIGINT,
    delta_ns         BIGINT,
    noise_ns         BIGINT,
    base_launches    BIGINT,
    variant_launches BIGINT,
    change           TEXT,
    significant      BOOLEAN,
    impact           DOUBLE
);
COMMENT ON COLUMN diff_families.base IS 'diff_runs.base';
COMMENT ON COLUMN diff_families.variant IS 'diff_runs.variant';
COMMENT ON COLUMN diff_families.stage IS 'diff_stages.stage';
COMMENT ON COLUMN diff_families.pos IS 'position of the row in the stage''s table (0 = largest |delta_ns|)';
COMMENT ON COLUMN diff_families.family IS 'kernel family';
COMMENT ON COLUMN diff_families.base_ns IS 'base time of the family, per step or in total (diff_stages.basis) (ns)';
COMMENT ON COLUMN diff_families.variant_ns IS 'variant time, same basis (ns)';
COMMENT ON COLUMN diff_families.delta_ns IS 'variant_ns - base_ns';
COMMENT ON COLUMN diff_families.noise_ns IS 'noise threshold from the family''s per-step spread (NULL: unknown)';
COMMENT ON COLUMN diff_families.base_launches IS 'activities of the family on the base side, in the whole stage';
COMMENT ON COLUMN diff_families.variant_launches IS 'the same on the variant side';
COMMENT ON COLUMN diff_families.change IS 'same | faster | slower | new | gone';
COMMENT ON COLUMN diff_families.significant IS '|delta_ns| exceeds noise_ns and 1 % of the larger side';
COMMENT ON COLUMN diff_families.impact IS 'delta_ns / the stage''s base_ns (NULL when the base stage is empty)';
