-- facts_builds: when each root's kernel_facts were built, and from which load of the root.
CREATE TABLE IF NOT EXISTS facts_builds (
    root      TEXT PRIMARY KEY,
    built_at  TIMESTAMP,
    fact_rows BIGINT,
    loaded_at TIMESTAMP,
    facts_version INTEGER
);
COMMENT ON COLUMN facts_builds.root IS 'trace_roots.root';
COMMENT ON COLUMN facts_builds.built_at IS 'when build_facts stored the facts (UTC)';
COMMENT ON COLUMN facts_builds.fact_rows IS 'kernel_facts rows stored';
COMMENT ON COLUMN facts_builds.loaded_at IS 'trace_roots.loaded_at at build time: the facts are stale when the root was loaded again since';
COMMENT ON COLUMN facts_builds.facts_version IS 'pipeline.facts FACTS_VERSION of the code that built them: older facts are stale';
