-- python_frames: every Python frame with an id, for walking stacks (pipeline.stacks.StackIndex).
-- Parameters: ? = list of trace_files.file_id
-- Rows: file_id, pid, python_id, parent_id, name, end_ns (= ts_ns + dur_ns)
SELECT file_id, pid, python_id, parent_id, name, ts_ns + dur_ns AS end_ns
FROM python_frames
WHERE list_contains(?, file_id) AND python_id IS NOT NULL;
