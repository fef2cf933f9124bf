-- model_code: the model source files on each trace file's Python stacks (with_stack=True), e.g. the
-- `gpt_oss` of vllm/model_executor/models/gpt_oss.py or python/sglang/srt/models/gpt_oss.py.
-- $1: BIGINT[] file ids.
--   file_id  BIGINT  trace_files.file_id
--   code     TEXT    file name without .py of a frame under a `models/` directory
SELECT DISTINCT file_id, regexp_extract(name, '/models/([A-Za-z0-9_]+)\.py', 1) AS code
FROM python_frames
WHERE list_contains($1, file_id) AND name LIKE '%/models/%.py%'
ORDER BY file_id, code
