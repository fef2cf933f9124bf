-- ok_files: the Kineto files of a root whose rows are in the warehouse (loaded, or kept from an
-- earlier load after a failed re-ingest), by path. Layer-wise profiles have no kernels to attribute.
-- Parameters: ? = root
SELECT file_id
FROM trace_files
WHERE root = ? AND status IN ('ok', 'stale') AND kind <> 'layerwise'
ORDER BY path;
