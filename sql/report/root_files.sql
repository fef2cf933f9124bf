-- root_files: every file of a root as the report lists it (docs/json-schema.md `files`), by path;
-- `metadata` is decoded by pipeline.report.context into platform, tp and has_cpu.
-- Parameters: ? = root
SELECT file_id, path, framework, model, role, stage, rank, kind, status, error, note, kernels, metadata
FROM trace_files
WHERE root = ?
ORDER BY path;
