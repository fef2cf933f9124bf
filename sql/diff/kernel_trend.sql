-- kernel_trend: one kernel's time per step, night by night, in one series, with the least-squares slope
-- (ns per step per day) over the nights so far — the trend query of docs/diff.md "History".
-- Parameters: ? = series (diff_series.series), ? = stage, ? = kernel display name
-- Rows: night DATE, root TEXT, per_step_ns DOUBLE, slope_ns_per_day DOUBLE (NULL for the first night)
SELECT night, root, per_step_ns,
       CASE WHEN row_number() OVER (ORDER BY captured_at) > 1
            THEN regr_slope(per_step_ns, epoch(captured_at) / 86400.0)
                     OVER (ORDER BY captured_at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) END AS slope_ns_per_day
FROM kernel_history
WHERE series = ? AND stage = ? AND name = ?
ORDER BY captured_at;
