-- stage_notes: per root and stage, what the facts steps found besides the per-kernel columns
-- (written with kernel_facts; the report shows them: docs/layers.md).
CREATE TABLE IF NOT EXISTS stage_notes (
    root          TEXT,
    stage         TEXT,
    layers        JSON,
    cross_root    JSON,
    catalog_sites JSON
);
COMMENT ON COLUMN stage_notes.root IS 'trace_roots.root';
COMMENT ON COLUMN stage_notes.stage IS 'stage as the report names it (all when the trace has no stage information)';
COMMENT ON COLUMN stage_notes.layers IS 'the layer structure found: count, forward_passes, source, slots (template), excluded_passes, reason (why none)';
COMMENT ON COLUMN stage_notes.cross_root IS 'the other root graph replays took their sites from: source_root, captured_at, source_stage, layers, match rate, refused[] (root, reason)';
COMMENT ON COLUMN stage_notes.catalog_sites IS 'sites given from pipeline/catalog/kernel_sites.toml: time_ns, kernels, entries[] (id, site, upstream, time_ns, kernels), note';
