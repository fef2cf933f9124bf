-- diff_kernels: every kernel row of a stage on either side, matched across the sides (docs/diff.md
-- "Matching"), largest |delta_ns| first; a cutoff is applied on read.
-- Key: (base, variant, stage, pos) — diff_stages' stage, pos = the row's place in the table.
CREATE TABLE IF NOT EXISTS diff_kernels (
    base    TEXT,
    variant TEXT,
    stage   TEXT,
    pos     INTEGER,
    name             TEXT,
    family           TEXT,
    site             TEXT,
    match            TEXT,
    base_name        TEXT,
    base_site        TEXT,
    base_ns          BIGINT,
    variant_ns       BIGINT,
    delta_ns         BIGINT,
    noise_ns         BIGINT,
    base_launches    BIGINT,
    variant_launches BIGINT,
    change           TEXT,
    significant      BOOLEAN,
    impact           DOUBLE,
    base_total_ns    BIGINT,
    variant_total_ns BIGINT
);
COMMENT ON COLUMN diff_kernels.base IS 'diff_runs.base';
COMMENT ON COLUMN diff_kernels.variant IS 'diff_runs.variant';
COMMENT ON COLUMN diff_kernels.stage IS 'diff_stages.stage';
COMMENT ON COLUMN diff_kernels.pos IS 'position of the row in the stage''s table (0 = largest |delta_ns|)';
COMMENT ON COLUMN diff_kernels.name IS 'display name (the variant''s; the base''s when the row is gone)';
COMMENT ON COLUMN diff_kernels.family IS 'kernel family';
COMMENT ON COLUMN diff_kernels.site IS 'site label of the row (kernel_facts.site, or (graph replay, unmapped) / (unattributed))';
COMMENT ON COLUMN diff_kernels.match IS 'how the sides were matched: site (name, family, site) | name (name, family) | slot (family, layer slot) | order (family, order of first appearance); NULL for new and gone rows';
COMMENT ON COLUMN diff_kernels.base_name IS 'optional: the base row''s display name when it differs (matched by slot or order)';
COMMENT ON COLUMN diff_kernels.base_site IS 'optional: the base row''s site when it differs';
COMMENT ON COLUMN diff_kernels.base_ns IS 'base time of the row, per step or in total (diff_stages.basis) (ns)';
COMMENT ON COLUMN diff_kernels.variant_ns IS 'variant time, same basis (ns)';
COMMENT ON COLUMN diff_kernels.delta_ns IS 'variant_ns - base_ns';
COMMENT ON COLUMN diff_kernels.noise_ns IS 'noise threshold from the row''s per-step spread on both sides (NULL: unknown)';
COMMENT ON COLUMN diff_kernels.base_launches IS 'activities on the base side, in the whole stage';
COMMENT ON COLUMN diff_kernels.variant_launches IS 'activities on the variant side, in the whole stage';
COMMENT ON COLUMN diff_kernels.change IS 'same | faster | slower | new | gone (docs/diff.md "Noise")';
COMMENT ON COLUMN diff_kernels.significant IS '|delta_ns| exceeds noise_ns and 1 % of the row''s larger side';
COMMENT ON COLUMN diff_kernels.impact IS 'delta_ns / the stage''s base_ns (NULL when the base stage is empty)';
COMMENT ON COLUMN diff_kernels.base_total_ns IS 'summed base time of the row in the stage (ns)';
COMMENT ON COLUMN diff_kernels.variant_total_ns IS 'summed variant time of the row in the stage (ns)';
