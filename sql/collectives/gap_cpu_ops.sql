-- gap_cpu_ops: what the CPU thread that launched a collective ran in the window before that launch
-- (the window starts at the launch of the GPU activity that ended last before the collective on its
-- device, and ends at the collective's own launch: pipeline/collectives/facts.py).
-- Input: the registered table _gap_windows
--   win          BIGINT  window id
--   file_id      BIGINT  the collective's file
--   correlation  BIGINT  the collective's launch correlation (its launch call gives the thread)
--   lo_ns, hi_ns BIGINT  the window on that file's clock
-- Output, one row per (window, op name):
--   win          BIGINT
--   name         TEXT    CPU op name
--   count        BIGINT  instances: the outermost ops on the thread that overlap the window without
--                        containing all of it (an op enclosing the whole window is context, not work in it)
--   time_ns      BIGINT  their time clipped to the window
WITH thread AS (
    SELECT DISTINCT ON (w.win) w.win, w.file_id, w.lo_ns, w.hi_ns, l.pid, l.tid
    FROM _gap_windows w
    JOIN launches l ON l.file_id = w.file_id AND l.correlation = w.correlation
    ORDER BY w.win, (l.cat <> 'cuda_runtime'), l.ts_ns
),
inside AS (
    SELECT t.win, t.lo_ns, t.hi_ns, c.ev, c.name, c.ts_ns, c.ts_ns + c.dur_ns AS end_ns
    FROM thread t
    JOIN cpu_ops c ON c.file_id = t.file_id AND c.pid = t.pid AND c.tid = t.tid
        AND c.ts_ns < t.hi_ns AND c.ts_ns + c.dur_ns > t.lo_ns
    WHERE NOT (c.ts_ns <= t.lo_ns AND c.ts_ns + c.dur_ns >= t.hi_ns)
),
outermost AS (
    SELECT i.* FROM inside i
    WHERE NOT EXISTS (
        SELECT 1 FROM inside p
        WHERE p.win = i.win AND p.ev <> i.ev AND p.ts_ns <= i.ts_ns AND p.end_ns >= i.end_ns
          AND (p.ts_ns < i.ts_ns OR p.end_ns > i.end_ns OR p.ev < i.ev)
    )
)
SELECT win, name, count(*)::BIGINT AS count,
       sum(least(end_ns, hi_ns) - greatest(ts_ns, lo_ns))::BIGINT AS time_ns
FROM outermost
GROUP BY win, name
ORDER BY win, time_ns DESC, name
