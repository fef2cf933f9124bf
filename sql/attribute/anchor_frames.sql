-- anchor_frames: for each CPU anchor point, the latest-starting python_function frame on the
-- same file, pid and tid that starts at or before the point (ties: the shortest frame, i.e.
-- the innermost). An ASOF join over the distinct anchors: O((anchors + frames) log frames).
-- When that frame ended before the point, the enclosing frame is one of its ancestors;
-- pipeline/attribute.py walks up.
-- Parameter 1: list of file_id. Reads the registered Arrow table `_links` (the rows of
-- gpu_activity_links.sql plus `i`, the row's position).
--   i            BIGINT  the link row (only rows whose anchor has a frame), ascending
--   frame_pid    TEXT    pid of the frame (the python id namespace)
--   python_id    BIGINT  that frame's Python id
WITH frames AS (
    SELECT file_id, pid, tid, python_id,
           (ts_ns::HUGEINT << 32) + (4294967295 - least(greatest(coalesce(dur_ns, 0), 0), 4294967295)) AS k
    FROM python_frames
    WHERE list_contains($1, file_id) AND python_id IS NOT NULL
),
anchors AS (
    SELECT DISTINCT file_id, anchor_pid, anchor_tid, anchor_ts_ns,
           (anchor_ts_ns::HUGEINT << 32) + 4294967295 AS k
    FROM _links
    WHERE anchor_ts_ns IS NOT NULL
),
found AS (
    SELECT a.file_id, a.anchor_pid, a.anchor_tid, a.anchor_ts_ns, f.pid AS frame_pid, f.python_id
    FROM anchors a
    ASOF JOIN frames f ON f.file_id = a.file_id AND f.pid = a.anchor_pid AND f.tid = a.anchor_tid AND f.k <= a.k
)
SELECT l.i, found.frame_pid, found.python_id
FROM _links l
JOIN found ON found.file_id = l.file_id AND found.anchor_pid = l.anchor_pid AND found.anchor_tid = l.anchor_tid
    AND found.anchor_ts_ns = l.anchor_ts_ns
ORDER BY l.i
