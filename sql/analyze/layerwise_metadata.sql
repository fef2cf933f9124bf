-- layerwise_metadata: the top-level metadata (vLLM's `context`) of layer-wise files.
-- Parameters: ? = list of trace_files.file_id
SELECT file_id, metadata
FROM trace_files
WHERE list_contains(?, file_id);
