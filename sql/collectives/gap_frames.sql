-- gap_frames: the Python frames the launching thread of a collective spent most of the window before
-- its launch in (windows as in gap_cpu_ops.sql, same input table _gap_windows).
-- Output, one row per window that has such frames:
--   win     BIGINT
--   frames  TEXT[]  names of the frames on that thread that cover at least half of the window,
--                   outermost first (frames on one thread nest, so these form one stack; its
--                   innermost model/framework frame is the window's site: pipeline.frames.choose_site)
WITH thread AS (
    SELECT DISTINCT ON (w.win) w.win, w.file_id, w.lo_ns, w.hi_ns, l.pid, l.tid
    FROM _gap_windows w
    JOIN launches l ON l.file_id = w.file_id AND l.correlation = w.correlation
    ORDER BY w.win, (l.cat <> 'cuda_runtime'), l.ts_ns
)
SELECT t.win, list(f.name ORDER BY f.ts_ns, f.dur_ns DESC, f.ev) AS frames
FROM thread t
JOIN python_frames f ON f.file_id = t.file_id AND f.pid = t.pid AND f.tid = t.tid
    AND f.ts_ns < t.hi_ns AND f.ts_ns + f.dur_ns > t.lo_ns
WHERE 2 * (least(f.ts_ns + f.dur_ns, t.hi_ns) - greatest(f.ts_ns, t.lo_ns)) >= t.hi_ns - t.lo_ns
GROUP BY t.win
ORDER BY t.win
