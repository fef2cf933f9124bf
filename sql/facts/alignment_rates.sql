-- alignment_rates: the stored match rates of one root, one row per (rank, stage) that needed alignment.
-- Parameters: ? = root
SELECT rank, stage, by_count, by_time, kernels, mapped, time_ns, mapped_ns, source, method
FROM alignment_rates
WHERE root = ?
ORDER BY rank NULLS LAST, stage;
