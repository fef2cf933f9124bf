-- diff_runs: one row per stored diff of two roots (`pipeline.diff.store`; the nightly regressions
-- asset writes them). The diff is the diff_* tables below; `pipeline.diff.store.read_diff` assembles
-- them into the JSON of docs/json-schema.md "diff", and bundles read only that.
CREATE TABLE IF NOT EXISTS diff_runs (
    base              TEXT,
    variant           TEXT,
    diff_version      INTEGER,
    built_at          TIMESTAMP,
    view              TEXT,
    base_report_at    TIMESTAMP,
    variant_report_at TIMESTAMP,
    base_info         JSON,
    variant_info      JSON,
    rule              JSON,
    warnings          TEXT[],
    PRIMARY KEY (base, variant)
);
COMMENT ON COLUMN diff_runs.base IS 'trace_roots.root of the earlier run';
COMMENT ON COLUMN diff_runs.variant IS 'trace_roots.root of the later run';
COMMENT ON COLUMN diff_runs.diff_version IS 'version of the diff code that wrote the rows; another one is stale';
COMMENT ON COLUMN diff_runs.built_at IS 'when the diff was written (UTC)';
COMMENT ON COLUMN diff_runs.view IS 'report view compared: all (every rank pooled) or a rank number';
COMMENT ON COLUMN diff_runs.base_report_at IS 'report_roots.built_at of the base report diffed; another value means stale';
COMMENT ON COLUMN diff_runs.variant_report_at IS 'report_roots.built_at of the variant report diffed; another value means stale';
COMMENT ON COLUMN diff_runs.base_info IS 'the JSON `base` object: root, path, framework, model, run, view';
COMMENT ON COLUMN diff_runs.variant_info IS 'the JSON `variant` object';
COMMENT ON COLUMN diff_runs.rule IS 'the JSON `rule` object: noise and matching rules the diff applied';
COMMENT ON COLUMN diff_runs.warnings IS 'problems met while diffing, one sentence each';
