-- state: whether a root's facts and report are current.
-- Parameters: ? = root
-- One row (NULL columns when the root or a build is absent):
--   loaded_at         TIMESTAMP  trace_roots.loaded_at: when the root's rows were last replaced
--   facts_built_at    TIMESTAMP  facts_builds.built_at
--   facts_loaded_at   TIMESTAMP  the root's loaded_at the facts were built from
--   report_facts_at   TIMESTAMP  report_roots.facts_built_at: the facts build the report was computed from
--   report_version    INTEGER    report_roots.report_version
--   facts_version     INTEGER    facts_builds.facts_version
SELECT r.loaded_at, f.built_at AS facts_built_at, f.loaded_at AS facts_loaded_at, f.facts_version,
       p.facts_built_at AS report_facts_at, p.report_version
FROM (SELECT ? AS root) q
LEFT JOIN trace_roots r USING (root)
LEFT JOIN facts_builds f USING (root)
LEFT JOIN report_roots p USING (root);
