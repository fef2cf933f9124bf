-- layerwise_steps: one row per (file, step) of the vLLM layer-wise profiles in `layerwise_nodes`.
-- Parameter $1: list of file_id.
--
--   file_id, step    the file and its section (prefill, decode_1, …); Python orders the steps
--   tree_time_ns     sum of the model tree roots' cuda time: vLLM's total CUDA time of the step
--                    (the denominator of its pct_cuda_time), to reconcile the kernel table with
--   roots            the root modules' names, in order (e.g. [LlamaForCausalLM, LogitsProcessor, Sampler])
SELECT
    file_id, step,
    CAST(sum(cuda_time_ns) FILTER (WHERE parent IS NULL) AS BIGINT) AS tree_time_ns,
    list(name ORDER BY node) FILTER (WHERE parent IS NULL) AS roots
FROM layerwise_nodes
WHERE tree = 'model' AND list_contains($1, file_id)
GROUP BY file_id, step
ORDER BY file_id, step
