-- launch_chains: the kernel chains CPU op instances launched, counted per call path.
-- Reads the registered Arrow table `_kernels` (pipeline/analyze/table.py `as_table`: `i` = row
-- position, `stack_id` = content id of the stack). An instance is one (file_id, cpu_op_ev);
-- graph replays and mapped kernels are left out (one replay launches a whole graph, not an op's
-- chain). An instance's chain is its kernels' display names in launch order (ts_ns, ev); its
-- call path is (cpu_op or '?', site, stack) of its first kernel. One row per (call path, chain):
--   cpu_op, site, stack_id, chain   the call path and the chain
--   occurrences, time_ns            instances with that chain, their summed kernel time
--   variants                        distinct chains of the call path (any length)
--   op_seen, chain_seen             first row position of the call path / of the (path, chain) pair
-- ordered by (op_seen, chain_seen): the order a loop over the kernels would first meet them.
WITH ranked AS (
    SELECT *, row_number() OVER (PARTITION BY file_id, cpu_op_ev ORDER BY ts_ns, ev, i) AS pos
    FROM _kernels
    WHERE cpu_op_ev IS NOT NULL AND NOT coalesce(is_graph, false) AND attribution IS DISTINCT FROM 'mapped'
),
instances AS (
    SELECT min(i) AS seen,
           sum(dur_ns)::BIGINT AS time_ns,
           list(display_name ORDER BY pos) AS chain,
           any_value(coalesce(nullif(cpu_op, ''), '?')) FILTER (WHERE pos = 1) AS cpu_op,
           any_value(site) FILTER (WHERE pos = 1) AS site,      -- one row: a NULL site stays NULL
           any_value(stack_id) FILTER (WHERE pos = 1) AS stack_id
    FROM ranked
    GROUP BY file_id, cpu_op_ev
),
chains AS (
    SELECT cpu_op, site, stack_id, chain, count(*) AS occurrences, sum(time_ns)::BIGINT AS time_ns,
           min(seen) AS chain_seen
    FROM instances
    GROUP BY cpu_op, site, stack_id, chain
)
SELECT cpu_op, site, stack_id, chain, occurrences, time_ns, chain_seen,
       min(chain_seen) OVER (PARTITION BY cpu_op, site, stack_id) AS op_seen,
       count(*) OVER (PARTITION BY cpu_op, site, stack_id) AS variants
FROM chains
ORDER BY op_seen, chain_seen
