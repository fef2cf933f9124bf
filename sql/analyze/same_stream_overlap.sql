-- same_stream_overlap: per GPU activity, the part of its record that lies under an earlier-started
-- activity of the same (file, device, stream) — programmatic dependent launch (PDL) on
-- Hopper/Blackwell starts a dependent kernel before its predecessor on the stream has ended.
-- Reads the registered Arrow table `_kernels` (pipeline/analyze/table.py `as_table`: `i` = row
-- position). Order on a stream: (ts_ns, i), as the overlap sweep (pipeline/analyze/sweep.py) sorts;
-- records with a duration <= 0 neither overlap nor cover anything. One row per input row:
--   i            BIGINT  row position in `_kernels`
--   overlap_ns   BIGINT  time from its start to the latest end of the earlier activities of its
--                        stream, capped at its own end (0 when it started on an idle stream)
--   contained    BOOLEAN it also ended no later than that: the whole record lies under its
--                        predecessor (not PDL, whose dependent waits for the predecessor to finish)
WITH ordered AS (
    SELECT i, ts_ns, dur_ns, ts_ns + dur_ns AS end_ns,
           max(CASE WHEN dur_ns > 0 THEN ts_ns + dur_ns END) OVER (
               PARTITION BY file_id, device, stream ORDER BY ts_ns, i
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ) AS prev_end
    FROM _kernels
)
SELECT i,
       CASE WHEN dur_ns > 0 AND prev_end > ts_ns THEN least(prev_end, end_ns) - ts_ns ELSE 0 END::BIGINT AS overlap_ns,
       coalesce(dur_ns > 0 AND prev_end > ts_ns AND prev_end >= end_ns, false) AS contained
FROM ordered
ORDER BY i;
