-- root_info: the trace_roots row a report names (docs/json-schema.md `root`).
-- Parameters: ? = root
SELECT root, path, framework, model, run, status, reason, server_args
FROM trace_roots
WHERE root = ?;
