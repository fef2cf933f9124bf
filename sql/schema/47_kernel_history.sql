-- kernel_history (VIEW): the per-night history of each kernel's time: one row per root of a series
-- (diff_series), stage and kernel (report_kernels of the view all, every rank pooled). A trend is
-- one query over it (docs/diff.md "History").
CREATE VIEW IF NOT EXISTS kernel_history AS
SELECT s.series, s.framework, s.model, s.root, s.captured_at,
       CAST(s.captured_at AS DATE) AS night,
       k.stage, k.name, k.family, k.time_ns, k.launches, st.steps,
       CAST(k.time_ns AS DOUBLE) / greatest(st.steps, 1) AS per_step_ns,
       k.share
FROM diff_series s
JOIN report_kernels k ON k.root = s.root AND k.view = 'all'
JOIN report_stages st ON st.root = k.root AND st.view = k.view AND st.stage = k.stage;
COMMENT ON COLUMN kernel_history.series IS 'diff_series.series: captures of one configuration';
COMMENT ON COLUMN kernel_history.framework IS 'trace_roots.framework';
COMMENT ON COLUMN kernel_history.model IS 'trace_roots.model';
COMMENT ON COLUMN kernel_history.root IS 'the night''s root';
COMMENT ON COLUMN kernel_history.captured_at IS 'diff_series.captured_at (UTC)';
COMMENT ON COLUMN kernel_history.night IS 'the UTC date of captured_at';
COMMENT ON COLUMN kernel_history.stage IS 'report stage';
COMMENT ON COLUMN kernel_history.name IS 'kernel display name (report_kernels.name)';
COMMENT ON COLUMN kernel_history.family IS 'kernel family';
COMMENT ON COLUMN kernel_history.time_ns IS 'summed time in the stage, every rank pooled (ns)';
COMMENT ON COLUMN kernel_history.launches IS 'activities in the stage';
COMMENT ON COLUMN kernel_history.steps IS 'report_stages.steps (step annotations holding kernels)';
COMMENT ON COLUMN kernel_history.per_step_ns IS 'time_ns / steps (time_ns when the stage has no steps)';
COMMENT ON COLUMN kernel_history.share IS 'of the stage''s kernel time';
