-- diff_series: one row per root the nightly regressions step has placed in a series (`pipeline.diff.series`):
-- roots of one series are captures of one configuration, ordered by capture time; each root is
-- diffed with the one before it (docs/diff.md "Nightly regressions").
CREATE TABLE IF NOT EXISTS diff_series (
    root            TEXT PRIMARY KEY,
    series          TEXT,
    framework       TEXT,
    model           TEXT,
    stages          TEXT[],
    ranks           INTEGER[],
    roles           TEXT[],
    settings        JSON,
    captured_at     TIMESTAMP,
    captured_from   TEXT,
    previous        TEXT,
    report_built_at TIMESTAMP,
    recorded_at     TIMESTAMP
);
COMMENT ON COLUMN diff_series.root IS 'trace_roots.root';
COMMENT ON COLUMN diff_series.series IS 'hash of (framework, model, stages, ranks, roles, settings): equal for captures of one configuration';
COMMENT ON COLUMN diff_series.framework IS 'trace_roots.framework';
COMMENT ON COLUMN diff_series.model IS 'trace_roots.model';
COMMENT ON COLUMN diff_series.stages IS 'the stages of the stored report (report_stages of the view all), in report order';
COMMENT ON COLUMN diff_series.ranks IS 'report_roots.ranks (empty: no file carries a rank)';
COMMENT ON COLUMN diff_series.roles IS 'distinct roles of the loaded files (mapping, formal, single), sorted';
COMMENT ON COLUMN diff_series.settings IS 'capture settings: server_args and capture.json workload, volatile keys (hosts, ports, paths, times) removed';
COMMENT ON COLUMN diff_series.captured_at IS 'when the root was captured (UTC), from the source in captured_from';
COMMENT ON COLUMN diff_series.captured_from IS 'trace clock (first GPU activity on the baseTimeNanoseconds or absolute-timestamp clock) | capture.json started_at | ingest time (neither gives a capture time)';
COMMENT ON COLUMN diff_series.previous IS 'the root of the same series captured last before this one (NULL: the first of its series)';
COMMENT ON COLUMN diff_series.report_built_at IS 'report_roots.built_at of the report the row was computed from';
COMMENT ON COLUMN diff_series.recorded_at IS 'when the row was written (UTC)';
