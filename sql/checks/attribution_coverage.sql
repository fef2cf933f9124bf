-- attribution_coverage: how much kernel time of a root reached a CPU op and a Python site.
-- Parameters: ? = trace_roots.root
-- One row:
--   kernels         BIGINT  kernel_facts rows with kind = 'kernel'
--   kernel_time_ns  BIGINT  their summed duration
--   cpu_op_ns       BIGINT  time of kernels attributed to a CPU op
--   site_ns         BIGINT  time of kernels attributed to a Python site by this trace or its mapping trace
--                           (sites from another root or the kernel-site catalog are not counted: docs/layers.md)
--   unattributed    BIGINT  kernels with attribution = 'none'
SELECT
    count(*)                                                   AS kernels,
    coalesce(sum(dur_ns), 0)                                   AS kernel_time_ns,
    coalesce(sum(dur_ns) FILTER (WHERE cpu_op IS NOT NULL), 0) AS cpu_op_ns,
    coalesce(sum(dur_ns) FILTER (WHERE site IS NOT NULL
                             AND attribution NOT IN ('cross_root', 'catalog')), 0) AS site_ns,
    count(*) FILTER (WHERE attribution = 'none')               AS unattributed
FROM kernel_facts
WHERE root = ? AND kind = 'kernel';
