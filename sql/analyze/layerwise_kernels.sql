-- layerwise_kernels: every GPU activity (kernel, memcpy, memset) of the `model` trees of vLLM
-- layer-wise profiles (`layerwise_nodes`), one row per activity, with the module path above it.
-- Parameter $1: list of file_id.
--
-- In vLLM's model_stats tree (vllm/profiler/layerwise_profile.py) every node is either a module
-- (name = class name plus its direct parameters, cpu_time_us = the module call's duration) or a
-- leaf holding ONE GPU activity (name = the Kineto GPU event's name, cuda_time_us = its
-- duration, cpu_time_us = 0, trace = the torch ops between it and its module). A GPU activity
-- is therefore a node without children whose cpu time is 0 and that sits under a module.
--
--   file_id, step        the file and its section (prefill, decode_1, …)
--   node                 pre-order index of the activity in (file, step, 'model')
--   name                 raw GPU activity name
--   dur_ns               cuda_time_ns of the activity
--   module_path          module names from the tree root to the activity's parent, ' / '-joined
--                        (the name path vLLM's summary_stats tree merges on)
--   depth                depth of the activity (its module path has `depth` parts)
--   trace                the torch-op chain, innermost first ('mm(…) <- matmul(…) <- linear(…)')
--   cpu_op               the innermost torch op's name (e.g. 'mm', '_C::rms_norm'), NULL if none
WITH RECURSIVE nodes AS (
    SELECT file_id, step, node, parent, depth, name, cuda_time_ns, cpu_time_ns, trace
    FROM layerwise_nodes
    WHERE tree = 'model' AND list_contains($1, file_id)
),
parents AS (
    SELECT DISTINCT file_id, step, parent AS node FROM nodes WHERE parent IS NOT NULL
),
paths AS (
    SELECT file_id, step, node, name AS module_path
    FROM nodes WHERE parent IS NULL
    UNION ALL
    SELECT c.file_id, c.step, c.node, p.module_path || ' / ' || c.name
    FROM nodes c
    JOIN parents x ON x.file_id = c.file_id AND x.step = c.step AND x.node = c.node
    JOIN paths p ON p.file_id = c.file_id AND p.step = c.step AND p.node = c.parent
)
SELECT
    n.file_id, n.step, n.node, n.name, n.cuda_time_ns AS dur_ns, p.module_path, n.depth, n.trace,
    nullif(regexp_extract(coalesce(n.trace, ''), '^([^(]+)\(', 1), '') AS cpu_op
FROM nodes n
JOIN paths p ON p.file_id = n.file_id AND p.step = n.step AND p.node = n.parent
WHERE coalesce(n.cpu_time_ns, 0) = 0
  AND NOT EXISTS (SELECT 1 FROM parents x WHERE x.file_id = n.file_id AND x.step = n.step AND x.node = n.node)
ORDER BY n.file_id, n.step, n.node
