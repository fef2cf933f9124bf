-- diff_stages: one row per (diff, stage): the stage's figures on both sides and their difference.
-- Per-step figures when both sides have step annotations (basis = per_step), else stage totals.
-- Key: (base, variant, stage); pos = order of the stage in the diff. Row lists live in diff_<field>.
CREATE TABLE IF NOT EXISTS diff_stages (
    base              TEXT,
    variant           TEXT,
    stage             TEXT,
    pos               INTEGER,
    present           TEXT,
    basis             TEXT,
    base_steps        BIGINT,
    variant_steps     BIGINT,
    base_ns           BIGINT,
    variant_ns        BIGINT,
    delta_ns          BIGINT,
    delta_share       DOUBLE,
    noise_ns          BIGINT,
    noise_note        TEXT,
    significant       BOOLEAN,
    significant_count BIGINT,
    summary           TEXT,
    totals            JSON,
    coverage          JSON,
    alignment         JSON
);
COMMENT ON COLUMN diff_stages.base IS 'diff_runs.base';
COMMENT ON COLUMN diff_stages.variant IS 'diff_runs.variant';
COMMENT ON COLUMN diff_stages.stage IS 'prefill | decode | mixed | unknown | all (report_stages.stage)';
COMMENT ON COLUMN diff_stages.pos IS 'order of the stage in the diff';
COMMENT ON COLUMN diff_stages.present IS 'both | base (only the base has the stage) | variant';
COMMENT ON COLUMN diff_stages.basis IS 'per_step (both sides have steps: figures are per step) | total (stage totals)';
COMMENT ON COLUMN diff_stages.base_steps IS 'step annotations holding kernels on the base side (report_stages.steps)';
COMMENT ON COLUMN diff_stages.variant_steps IS 'the same on the variant side';
COMMENT ON COLUMN diff_stages.base_ns IS 'base kernel time of the stage, per step (basis per_step) or in total (ns)';
COMMENT ON COLUMN diff_stages.variant_ns IS 'variant kernel time, same basis (ns)';
COMMENT ON COLUMN diff_stages.delta_ns IS 'variant_ns - base_ns';
COMMENT ON COLUMN diff_stages.delta_share IS 'delta_ns / base_ns (NULL when base_ns = 0)';
COMMENT ON COLUMN diff_stages.noise_ns IS 'the noise threshold of delta_ns from the step-to-step spread (NULL: noise unknown)';
COMMENT ON COLUMN diff_stages.noise_note IS 'why the noise is unknown (NULL when known)';
COMMENT ON COLUMN diff_stages.significant IS '|delta_ns| exceeds noise_ns and 1 % of the larger side';
COMMENT ON COLUMN diff_stages.significant_count IS 'significant kernel rows of the stage';
COMMENT ON COLUMN diff_stages.summary IS 'one line: the change in % and per step, and the significant changes';
COMMENT ON COLUMN diff_stages.totals IS 'per measure {base, variant, delta}: kernel_time_ns, kernel_count, window_ns, busy_ns, idle_ns, launch_bound_ns, steps, per_step_ns';
COMMENT ON COLUMN diff_stages.coverage IS '{base, variant, delta}: cpu_op_share, site_share and by_attribution_ns of each side';
COMMENT ON COLUMN diff_stages.alignment IS '{base, variant, delta_by_time}: alignment match rates of each side (null side: no alignment needed)';
