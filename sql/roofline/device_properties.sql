-- device_properties: the GPUs each trace file describes (top-level deviceProperties, Kineto).
-- $1: BIGINT[] file ids.
--   file_id  BIGINT  trace_files.file_id
--   props    TEXT    JSON text of the deviceProperties list (NULL when the trace has none)
SELECT file_id,
       CAST(json_extract(metadata, '$.deviceProperties') AS VARCHAR) AS props
FROM trace_files
WHERE list_contains($1, file_id)
ORDER BY file_id
