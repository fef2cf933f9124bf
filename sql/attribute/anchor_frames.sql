-- anchor_frames: the innermost python_function frame enclosing each CPU anchor point
-- (same file, pid and tid; frame interval contains the point). Innermost = latest start,
-- then shortest. Parameter 1: list of file_id. Reads the temp table `_anchors`
-- (file_id, anchor_pid, anchor_tid, anchor_ts_ns).
--   file_id, anchor_pid, anchor_tid, anchor_ts_ns   the anchor
--   frame_pid    TEXT    pid of the frame (the python id namespace)
--   python_id    BIGINT  the innermost frame's Python id
SELECT a.file_id, a.anchor_pid, a.anchor_tid, a.anchor_ts_ns,
       any_value(f.pid) AS frame_pid,
       arg_max(f.python_id, (f.ts_ns, -f.dur_ns)) AS python_id
FROM _anchors a
JOIN python_frames f ON f.file_id = a.file_id AND f.pid = a.anchor_pid AND f.tid = a.anchor_tid
    AND f.ts_ns <= a.anchor_ts_ns AND a.anchor_ts_ns <= f.ts_ns + f.dur_ns
WHERE list_contains($1, f.file_id)
GROUP BY a.file_id, a.anchor_pid, a.anchor_tid, a.anchor_ts_ns
