-- step_annotations: user and GPU annotations, the candidates for step windows (pipeline.stage).
-- Parameters: ? = list of trace_files.file_id
SELECT file_id, cat, name, ts_ns, dur_ns, pid
FROM annotations
WHERE list_contains(?, file_id) AND cat IN ('user_annotation', 'gpu_user_annotation');
