-- file_context: what the cost models need to know about each trace file beyond one op's inputs.
-- $1: BIGINT[] file ids.
--   file_id      BIGINT  trace_files.file_id
--   model        TEXT    model name (discovery: manifest, server args, directory)
--   distributed  TEXT    JSON text of the top-level distributedInfo (Kineto; NULL when absent):
--                        world_size and pg_config[] (pg_name, pg_size, ranks) of the process groups
SELECT file_id,
       model,
       CAST(json_extract(metadata, '$.distributedInfo') AS VARCHAR) AS distributed
FROM trace_files
WHERE list_contains($1, file_id)
ORDER BY file_id
