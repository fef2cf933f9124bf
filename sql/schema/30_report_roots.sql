-- report_roots: one row per root whose report is stored (`proftriage analyze`, the triage_report
-- asset). The report is the report_* tables below; `pipeline.report.read.read_report` assembles
-- them into the JSON of docs/json-schema.md, and bundles and diffs read only that.
CREATE TABLE IF NOT EXISTS report_roots (
    root            TEXT PRIMARY KEY,
    report_version  INTEGER,
    built_at        TIMESTAMP,
    facts_built_at  TIMESTAMP,
    ranks           INTEGER[],
    default_view    TEXT,
    warnings        TEXT[],
    layerwise       JSON,
    layerwise_files JSON
);
COMMENT ON COLUMN report_roots.root IS 'trace_roots.root';
COMMENT ON COLUMN report_roots.report_version IS 'version of the analysis code that wrote the report; an older one is stale';
COMMENT ON COLUMN report_roots.built_at IS 'when the report was written (UTC)';
COMMENT ON COLUMN report_roots.facts_built_at IS 'facts_builds.built_at of the facts it was computed from; another value means stale';
COMMENT ON COLUMN report_roots.ranks IS 'ranks of the root''s loaded files (empty: no file carries a rank)';
COMMENT ON COLUMN report_roots.default_view IS 'the view `triage` shows without --rank / --all-ranks: the lowest rank, or all';
COMMENT ON COLUMN report_roots.warnings IS 'per-file errors and analysis warnings, ''<path>: <problem>''';
COMMENT ON COLUMN report_roots.layerwise IS 'vLLM layer-wise tables (docs/json-schema.md layerwise[]) with every kernel row; the cutoff is applied on read';
COMMENT ON COLUMN report_roots.layerwise_files IS 'one object per layer-wise file (docs/json-schema.md layerwise_files)';
