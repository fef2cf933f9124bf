-- record_build: remember when a root's facts were built, from which load of the root.
-- Parameters: ? = root, ? = built_at, ? = fact rows, ? = root (again, for its loaded_at), ? = facts version
INSERT OR REPLACE INTO facts_builds (root, built_at, fact_rows, loaded_at, facts_version)
SELECT ?, ?, ?, (SELECT loaded_at FROM trace_roots WHERE root = ?), ?;
